// What workflows ask of a domain's certificate lifecycle: eligibility checks, and starting,
// stopping and forgetting issuance in the domain's Durable Object. Glue between workflows and
// objects.
import { acmeAccountStub, domainCertificateStub } from "../../durable-objects/stubs";
import { loadConfig } from "../config";
import { createDohResolver } from "../dns/doh";
import type { TrackingDomain } from "../domains/model";
import { proxyProber } from "../domains/proxy-probe";
import {
  checkEligibility,
  type EligibilityReport,
  eligibilityContextFor,
} from "../issuance/eligibility";
import { logProblem, messageOf } from "../util/log";

export async function eligibilityOf(
  env: Env,
  domain: Pick<TrackingDomain, "domain" | "region" | "accountEndpoint" | "lastHttpsCheck">,
): Promise<EligibilityReport> {
  const config = loadConfig(env);
  const resolver = createDohResolver({ url: config.dohUrl });
  // The account URL matters only to CAA accounturi records; do not create an account to check,
  // nor fail the checks when the account's object does not answer.
  const accountUri =
    (await acmeAccountStub(env)
      .knownAccountUrl()
      .catch((error: unknown) => {
        logProblem("acme_account_unavailable", { message: messageOf(error) });
        return null;
      })) ?? undefined;
  return checkEligibility(
    domain.domain,
    eligibilityContextFor(
      config,
      resolver,
      {
        region: domain.region,
        accountUri,
        accountEndpoint: domain.accountEndpoint,
        httpsProbePassedAt:
          domain.lastHttpsCheck?.errorCode === null ? domain.lastHttpsCheck.checkedAt : null,
      },
      { probeProxy: proxyProber(env, config, resolver, domain.domain) },
    ),
  );
}

/**
 * The domain's certificate object did not answer a call (it was reset, overloaded, or failed in
 * the middle): nothing the caller did wrong, and each call is safe to make again.
 */
export class ObjectUnavailableError extends Error {
  override readonly name = "ObjectUnavailableError";
  constructor(
    readonly domain: string,
    cause: unknown,
  ) {
    super(`the certificate object of ${domain} did not answer: ${messageOf(cause)}`);
  }
}

type CertificateObject = ReturnType<typeof domainCertificateStub>;

/** A call to the domain's object; its failure is an ObjectUnavailableError (logged). */
export async function withCertificateObject<T>(
  env: Env,
  d: Pick<TrackingDomain, "domain" | "region">,
  call: (object: CertificateObject) => Promise<T>,
): Promise<T> {
  try {
    return await call(domainCertificateStub(env, d.domain, d.region));
  } catch (error) {
    logProblem("certificate_object_unavailable", { domain: d.domain, message: messageOf(error) });
    throw new ObjectUnavailableError(d.domain, error);
  }
}

export const startIssuance = (env: Env, d: Pick<TrackingDomain, "domain" | "region">) =>
  withCertificateObject(env, d, (object) => object.enable(d.domain, d.region));

export const stopIssuance = (env: Env, d: Pick<TrackingDomain, "domain" | "region">) =>
  withCertificateObject(env, d, (object) => object.disable());

export const forgetCertificates = (env: Env, d: Pick<TrackingDomain, "domain" | "region">) =>
  withCertificateObject(env, d, (object) => object.destroy(d.domain));

/** Records a change to the domain in its events (GET …/certificate/events). */
export const noteDomainEvent = (
  env: Env,
  d: Pick<TrackingDomain, "domain" | "region">,
  reason: string,
) => withCertificateObject(env, d, (object) => object.note(d.domain, d.region, reason));

/**
 * A verified domain must reach us through the edge (Cloudflare: a custom hostname), whatever its
 * HTTPS mode. The object retries by itself when the edge is down, so a failure here is only logged.
 */
export async function routeToEdge(
  env: Env,
  d: Pick<TrackingDomain, "domain" | "region">,
): Promise<void> {
  try {
    await domainCertificateStub(env, d.domain, d.region).routeToEdge(d.domain);
  } catch (error) {
    logProblem("edge_route_failed", { domain: d.domain, message: messageOf(error) });
  }
}
