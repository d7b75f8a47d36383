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
  acme: {
    directoryUrl: string;
    contactEmail: string;
  };
  /** Issuer domain names that stand for our CA in CAA records. */
  caaIdentities: readonly string[];
  /**
   * The Durable Object jurisdiction for EU domains' certificate objects ("eu" in production);
   * null where jurisdictions do not exist (local workerd).
   */
  euJurisdiction: "eu" | null;
  /** Most overdue domains one Cron tick wakes. */
  sweepPageSize: number;
  /** Names (and, written ".example.com", whole subtrees) we refuse to certify: policy:blocked. */
  policyBlocklist: readonly string[];
  dohUrl: string;
  endpoints: Readonly<Record<Region, RegionEndpoints>>;
  /** Names treated as public suffixes beyond the Public Suffix List (local test zones). */
  extraPublicSuffixes: readonly string[];
  /** The port a self-managed domain's proxy is probed on over HTTPS (443; tests use another). */
  httpsProbePort: number;
  /** Most self-managed domains one Cron tick probes again (0 turns the watch off). */
  httpsProbesPerTick: number;
  /** How long clicks and opens are kept in D1 (the Cron tick deletes older ones). */
  engagementRetentionDays: number;
  /** Webhooks may point at http:// and loopback addresses: local runs and tests only. */
  webhookAllowInsecureTargets: boolean;
  /**
   * How long an isolate trusts what it read of a tracking domain's holder (src/tracking/holders.ts):
   * links of an account that lost its domain stop within this long.
   */
  linkHolderCacheMs: number;
  /** The label of the ownership TXT record: `<label>.<domain>` (src/domains/ownership.ts). */
  ownershipTxtLabel: string;
  /** Each account's share of what all accounts share; see the README's "Limits". */
  limits: AccountLimits;
  /** Where issued certificates go to be served (src/deploy). */
  deployer: {
    kind: "edge-pull" | "cloudflare-for-saas" | "cloudflare-managed";
    /** The Cloudflare API's base URL, when not Cloudflare's own (a stand-in in tests). */
    cloudflareApiBaseUrl: string | null;
  };
}

export interface AccountLimits {
  /** New ACME orders (first certificates, not renewals) an account's domains may start an hour. */
  newOrdersPerHour: number;
  trackingDomains: number;
  sendingDomains: number;
  subaccounts: number;
  webhooks: number;
  /** Clicks and opens stored one by one per tracking domain, client network and minute. */
  engagementEventsPerNetworkPerMinute: number;
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

/** A per-account limit: a whole number, at least 1; empty or absent means the default. */
const limit = (fallback: number) =>
  z.preprocess(
    (value) => (value === "" ? undefined : value),
    z.coerce.number().int().min(1).max(100_000_000).default(fallback),
  );

/**
 * The CAs Cloudflare may issue a custom hostname's certificate from, by their CAA names
 * (Cloudflare's "Certificate authorities" reference): the CAA check of cloudflare-managed.
 */
export const cloudflareCaaIdentities = ["letsencrypt.org", "pki.goog", "ssl.com"] as const;

const envSchema = z.object({
  EU_JURISDICTION: z.enum(["eu", ""]).default("eu"),
  SWEEP_PAGE_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  HTTPS_PROBES_PER_TICK: z.coerce.number().int().min(0).max(200).default(20),
  ENGAGEMENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(30),
  ACME_DIRECTORY_URL: z.url({ protocol: /^https?$/ }),
  ACME_CONTACT_EMAIL: z.email(),
  CAA_IDENTITIES: hostnameList.pipe(
    z.array(hostname).min(1, "must name at least one issuer domain"),
  ),
  POLICY_BLOCKLIST: hostnameList.pipe(
    z.array(
      z.string().regex(/^\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be host names or .suffixes"),
    ),
  ),
  API_HOSTNAMES: hostnameList.pipe(z.array(hostname).min(1, "must name at least one host")),
  DOH_URL: z.url({ protocol: /^https?$/ }),
  V2_ENDPOINT_US: hostname,
  V2_ENDPOINT_EU: hostname,
  STANDARD_ENDPOINT_US: hostname,
  STANDARD_ENDPOINT_EU: hostname,
  EXTRA_PUBLIC_SUFFIXES: hostnameList.pipe(z.array(hostname)),
  HTTPS_PROBE_PORT: z.coerce.number().int().min(1).max(65_535).default(443),
  CERTIFICATE_DEPLOYER: z
    .enum(["edge-pull", "cloudflare-for-saas", "cloudflare-managed"])
    .default("edge-pull"),
  CLOUDFLARE_API_BASE_URL: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
  WEBHOOK_ALLOW_INSECURE_TARGETS: z.enum(["true", "false", ""]).default("false"),
  LINK_HOLDER_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(240),
  OWNERSHIP_TXT_LABEL: z
    .string()
    .trim()
    .toLowerCase()
    .regex(
      /^_?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
      "must be one DNS label, such as _tracking-edge",
    )
    .default("_tracking-edge"),
  NEW_ORDERS_PER_ACCOUNT_PER_HOUR: limit(30),
  MAX_TRACKING_DOMAINS_PER_ACCOUNT: limit(20_000),
  MAX_SENDING_DOMAINS_PER_ACCOUNT: limit(20_000),
  MAX_SUBACCOUNTS_PER_ACCOUNT: limit(5_000),
  MAX_WEBHOOKS_PER_ACCOUNT: limit(25),
  ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE: limit(60),
});

const cache = new WeakMap<object, Config>();
/** The last answer: the runtime hands every request the same env, and this is on the click path. */
let last: { env: Env; config: Config } | undefined;

export function loadConfig(env: Env): Config {
  if (last?.env === env) return last.config;
  const config = cache.get(env) ?? parseConfig(env);
  cache.set(env, config);
  last = { env, config };
  return config;
}

function parseConfig(env: Env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const vars = parsed.data;
  const config: Config = {
    apiHostnames: new Set(vars.API_HOSTNAMES),
    acme: { directoryUrl: vars.ACME_DIRECTORY_URL, contactEmail: vars.ACME_CONTACT_EMAIL },
    // Cloudflare picks the CA of a certificate it issues: CAA must allow any of them.
    caaIdentities:
      vars.CERTIFICATE_DEPLOYER === "cloudflare-managed"
        ? [...cloudflareCaaIdentities]
        : vars.CAA_IDENTITIES,
    euJurisdiction: vars.EU_JURISDICTION === "eu" ? "eu" : null,
    sweepPageSize: vars.SWEEP_PAGE_SIZE,
    policyBlocklist: vars.POLICY_BLOCKLIST,
    dohUrl: vars.DOH_URL,
    endpoints: {
      us: { v2: vars.V2_ENDPOINT_US, standard: vars.STANDARD_ENDPOINT_US },
      eu: { v2: vars.V2_ENDPOINT_EU, standard: vars.STANDARD_ENDPOINT_EU },
    },
    extraPublicSuffixes: vars.EXTRA_PUBLIC_SUFFIXES,
    httpsProbePort: vars.HTTPS_PROBE_PORT,
    httpsProbesPerTick: vars.HTTPS_PROBES_PER_TICK,
    engagementRetentionDays: vars.ENGAGEMENT_RETENTION_DAYS,
    webhookAllowInsecureTargets: vars.WEBHOOK_ALLOW_INSECURE_TARGETS === "true",
    linkHolderCacheMs: vars.LINK_HOLDER_CACHE_SECONDS * 1000,
    ownershipTxtLabel: vars.OWNERSHIP_TXT_LABEL,
    limits: {
      newOrdersPerHour: vars.NEW_ORDERS_PER_ACCOUNT_PER_HOUR,
      trackingDomains: vars.MAX_TRACKING_DOMAINS_PER_ACCOUNT,
      sendingDomains: vars.MAX_SENDING_DOMAINS_PER_ACCOUNT,
      subaccounts: vars.MAX_SUBACCOUNTS_PER_ACCOUNT,
      webhooks: vars.MAX_WEBHOOKS_PER_ACCOUNT,
      engagementEventsPerNetworkPerMinute: vars.ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE,
    },
    deployer: {
      kind: vars.CERTIFICATE_DEPLOYER,
      cloudflareApiBaseUrl: vars.CLOUDFLARE_API_BASE_URL || null,
    },
  };
  return config;
}
