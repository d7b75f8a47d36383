// Finding the domain a request is about: the stored form of a name given in a body (a 422 naming
// the field when it cannot be one), and a domain named in a path, through the caller's scope
// (a 404 for a name that does not exist or belongs to someone else).
import type { Context } from "hono";
import { type Config, loadConfig } from "../config";
import type { TrackingDomain } from "../domains/model";
import { normalizeDomainName } from "../domains/name";
import { getTrackingDomain } from "../domains/repository";
import type { AppEnv } from "./context";
import { invalidField, notFound } from "./errors";

export function parseDomain(input: string, config: Config): string {
  const result = normalizeDomainName(input, { extraPublicSuffixes: config.extraPublicSuffixes });
  if (!result.ok)
    throw invalidField(
      "domain",
      `domain ${JSON.stringify(input)} ${result.problem.message}`,
      input,
    );
  return result.domain;
}

/** The stored form of a domain named in a path, if it could be one at all. */
export function lookupName(input: string, config: Config): string | undefined {
  const result = normalizeDomainName(input, { extraPublicSuffixes: config.extraPublicSuffixes });
  return result.ok ? result.domain : undefined;
}

export const missingDomain = (input: string) => notFound(`Tracking domain ${input} does not exist`);

export async function ownedDomain(c: Context<AppEnv>, input: string): Promise<TrackingDomain> {
  const name = lookupName(input, loadConfig(c.env));
  const domain = name === undefined ? null : await getTrackingDomain(c.env.DB, c.get("auth"), name);
  if (!domain) throw missingDomain(input);
  return domain;
}
