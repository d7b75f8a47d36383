// The Worker's configuration, read from its environment and checked once per Env object.
// A missing or malformed variable is an operator's mistake: ConfigError names the variable.
// Secrets are read where they are used, never copied into this object.
import { z } from "zod";
import type { Region } from "./domains/model";

export interface RegionEndpoints {
  /** CNAME target that supports managed HTTPS. */
  v2: string;
  /** Legacy CNAME target: HTTP only. */
  standard: string;
}

export interface Config {
  apiHostnames: ReadonlySet<string>;
  dohUrl: string;
  endpoints: Readonly<Record<Region, RegionEndpoints>>;
  /** Names treated as public suffixes beyond the Public Suffix List (local test zones). */
  extraPublicSuffixes: readonly string[];
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const hostname = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a host name");

const hostnameList = z
  .string()
  .default("")
  .transform((value) =>
    value
      .split(",")
      .map((part) => part.trim().toLowerCase())
      .filter((part) => part.length > 0),
  );

const envSchema = z.object({
  API_HOSTNAMES: hostnameList.pipe(z.array(hostname).min(1, "must name at least one host")),
  DOH_URL: z.url({ protocol: /^https?$/ }),
  V2_ENDPOINT_US: hostname,
  V2_ENDPOINT_EU: hostname,
  STANDARD_ENDPOINT_US: hostname,
  STANDARD_ENDPOINT_EU: hostname,
  EXTRA_PUBLIC_SUFFIXES: hostnameList.pipe(z.array(hostname)),
});

const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const vars = parsed.data;
  const config: Config = {
    apiHostnames: new Set(vars.API_HOSTNAMES),
    dohUrl: vars.DOH_URL,
    endpoints: {
      us: { v2: vars.V2_ENDPOINT_US, standard: vars.STANDARD_ENDPOINT_US },
      eu: { v2: vars.V2_ENDPOINT_EU, standard: vars.STANDARD_ENDPOINT_EU },
    },
    extraPublicSuffixes: vars.EXTRA_PUBLIC_SUFFIXES,
  };
  cache.set(env, config);
  return config;
}
