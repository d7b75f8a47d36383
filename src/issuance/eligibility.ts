// Can this domain get a certificate from our CA right now? Four checks, each with what it found,
// what it expected and the fix: the name (Public Suffix List), our own policy, the CNAME (the
// V2 endpoint of the domain's region) and CAA (RFC 8659/8657). A DNS failure is reported as
// such (transient), never as a verdict.
import type { Config, RegionEndpoints } from "../config";
import { evaluateCaa, findRelevantCaa } from "../dns/caa";
import { DnsQueryError, type DnsResolver } from "../dns/doh";
import { type ActionBy, type ErrorCode, endpointsOf, type Region, regions } from "../domains/model";
import { normalizeDomainName } from "../domains/name";
import { verifyCname } from "../domains/verification";

export type CheckName = "name" | "policy" | "cname" | "caa";

export interface EligibilityCheck {
  name: CheckName;
  /** `error`: the check could not be made (DNS failed); try again. */
  status: "pass" | "fail" | "error";
  found: string;
  expected: string | null;
  detail: string;
  fix: string | null;
  errorCode: ErrorCode | null;
  actionBy: ActionBy | null;
}

export interface EligibilityReport {
  eligible: boolean;
  /** The first check that stands in the way, if any. */
  blocking: EligibilityCheck | null;
  /** The blocking check fails for a reason that waiting will not fix (unavailable). */
  unavailable: boolean;
  checks: EligibilityCheck[];
}

export interface EligibilityContext {
  resolver: DnsResolver;
  endpoints: RegionEndpoints;
  /** Endpoints of other regions: reaching them is a mismatch, not a missing CNAME. */
  otherEndpoints: readonly string[];
  caaIdentities: readonly string[];
  extraPublicSuffixes: readonly string[];
  policyBlocklist: readonly string[];
  /** Our ACME account URL when known, for CAA accounturi. */
  accountUri?: string;
  /**
   * When an HTTPS probe through the customer's own proxy last reached us (within a day): the CA
   * can validate through that proxy, so a certificate can be issued before the CNAME moves.
   */
  proxiedAt?: string;
  /**
   * For a domain reached through the customer's proxy before, but not within the day: probes
   * through the proxy again. Called only when the CNAME does not point at us, so a managed domain
   * still behind the proxy renews with nothing for the customer to do.
   */
  probeProxy?: () => Promise<ProxyProbe>;
}

/** A fresh HTTPS probe through the customer's proxy: when it passed, or why it did not. */
export type ProxyProbe = { passedAt: string } | { failed: string };

/** What about a domain, beyond its name, the checks depend on. */
export interface DomainFacts {
  region: Region;
  /** Our ACME account URL when known, for CAA accounturi. */
  accountUri?: string | undefined;
  /** The owning account's own V2 endpoint, when an operator set one. */
  accountEndpoint?: string | null;
  /** When an HTTPS probe through the customer's proxy last passed. */
  httpsProbePassedAt?: string | null;
}

/** How long a passing HTTPS probe vouches for the proxy. */
const probeValidityMs = 24 * 3600_000;

/** The context for a domain, from the configuration and what is known of the domain. */
export function eligibilityContextFor(
  config: Config,
  resolver: DnsResolver,
  facts: DomainFacts,
  options: { now?: Date; probeProxy?: () => Promise<ProxyProbe> } = {},
): EligibilityContext {
  const { region, accountUri } = facts;
  const now = options.now ?? new Date();
  const probe = facts.httpsProbePassedAt;
  const proxied = probe && now.getTime() - Date.parse(probe) < probeValidityMs ? probe : undefined;
  // Only a domain whose proxy has reached us before is worth probing again.
  const probeProxy = probe && !proxied ? options.probeProxy : undefined;
  return {
    resolver,
    endpoints: endpointsOf(
      { region, accountEndpoint: facts.accountEndpoint ?? null },
      config.endpoints,
    ),
    otherEndpoints: regions
      .filter((r) => r !== region)
      .flatMap((r) => [config.endpoints[r].v2, config.endpoints[r].standard]),
    caaIdentities: config.caaIdentities,
    extraPublicSuffixes: config.extraPublicSuffixes,
    policyBlocklist: config.policyBlocklist,
    ...(accountUri ? { accountUri } : {}),
    ...(proxied ? { proxiedAt: proxied } : {}),
    ...(probeProxy ? { probeProxy } : {}),
  };
}

export async function checkEligibility(
  domain: string,
  context: EligibilityContext,
): Promise<EligibilityReport> {
  const [cname, caa] = await Promise.all([cnameCheck(domain, context), caaCheck(domain, context)]);
  const checks = [nameCheck(domain, context), policyCheck(domain, context), cname, caa];
  const blocking = checks.find((c) => c.status !== "pass") ?? null;
  return {
    eligible: blocking === null,
    blocking,
    unavailable: blocking !== null && (blocking.name === "name" || blocking.name === "policy"),
    checks,
  };
}

function nameCheck(domain: string, context: EligibilityContext): EligibilityCheck {
  const result = normalizeDomainName(domain, { extraPublicSuffixes: context.extraPublicSuffixes });
  if (result.ok) {
    return pass(
      "name",
      `${domain} is a subdomain of ${result.registrableDomain}`,
      `${domain} is a name a CA can certify.`,
    );
  }
  return {
    name: "name",
    status: "fail",
    found: domain,
    expected: "a subdomain of a registrable domain",
    detail: `${domain} ${result.problem.message}.`,
    fix: "Use a subdomain of a domain you own, such as track.example.com; or serve HTTPS through your own CDN.",
    errorCode: "policy:public_suffix",
    actionBy: "customer",
  };
}

/** Whether `domain` is on the blocklist: an exact entry, or under a ".suffix" entry. */
export function isBlocked(domain: string, blocklist: readonly string[]): string | undefined {
  return blocklist.find((entry) =>
    entry.startsWith(".") ? domain.endsWith(entry) || domain === entry.slice(1) : domain === entry,
  );
}

function policyCheck(domain: string, context: EligibilityContext): EligibilityCheck {
  const entry = isBlocked(domain, context.policyBlocklist);
  if (!entry) return pass("policy", "not on the policy blocklist", "Our policy allows this name.");
  return {
    name: "policy",
    status: "fail",
    found: `blocklist entry ${entry}`,
    expected: null,
    detail: `Managed certificates are not available for ${domain} under our policy.`,
    fix: "Serve HTTPS through your own CDN or reverse proxy (self-managed HTTPS).",
    errorCode: "policy:blocked",
    actionBy: "customer",
  };
}

async function cnameCheck(domain: string, context: EligibilityContext): Promise<EligibilityCheck> {
  const v = await verifyCname(context.resolver, domain, context.endpoints, context.otherEndpoints);
  const found = v.chain.length > 1 ? v.chain.join(" → ") : v.detail;
  if (v.cnameStatus === "valid" && v.endpoint === "v2") {
    return { ...pass("cname", found, v.detail), expected: context.endpoints.v2 };
  }
  let proxiedAt = context.proxiedAt;
  let probeFailure = "";
  if (!proxiedAt && context.probeProxy && v.cnameStatus !== "unknown") {
    const probe = await context.probeProxy();
    if ("passedAt" in probe) proxiedAt = probe.passedAt;
    else
      probeFailure = ` An HTTPS probe through its proxy, which used to reach us, failed just now: ${probe.failed}`;
  }
  if (proxiedAt && v.cnameStatus !== "unknown") {
    // Migrating from self-managed HTTPS: the CA validates through the customer's proxy, so the
    // certificate is ready before the CNAME moves and HTTPS never stops.
    return {
      ...pass(
        "cname",
        found,
        `${domain} does not point at ${context.endpoints.v2} yet, but an HTTPS probe through its proxy reached us at ${proxiedAt}: the CA can validate through the proxy, which must forward /.well-known/acme-challenge/ over HTTP as well.`,
      ),
      expected: context.endpoints.v2,
      fix: `Once the certificate is valid, point ${domain} at ${context.endpoints.v2} with a CNAME.`,
    };
  }
  return {
    name: "cname",
    status: v.cnameStatus === "unknown" ? "error" : "fail",
    found,
    expected: context.endpoints.v2,
    detail:
      (v.endpoint === "standard"
        ? `${v.detail} Managed HTTPS is not supported on the standard endpoint.`
        : v.detail) + probeFailure,
    fix: probeFailure
      ? `${v.fix ?? `Point ${domain} at ${context.endpoints.v2} with a CNAME.`} Or make the proxy forward to us again, HTTPS and HTTP alike.`
      : v.fix,
    errorCode: v.errorCode,
    actionBy: v.actionBy,
  };
}

async function caaCheck(domain: string, context: EligibilityContext): Promise<EligibilityCheck> {
  try {
    const set = await findRelevantCaa(context.resolver, domain);
    const verdict = evaluateCaa(set, {
      identities: context.caaIdentities,
      ...(context.accountUri ? { accountUri: context.accountUri } : {}),
    });
    const found = verdict.found.length ? verdict.found.join("; ") : "no CAA records";
    if (verdict.allowed) return pass("caa", found, verdict.detail);
    return {
      name: "caa",
      status: "fail",
      found,
      expected: `issue "${context.caaIdentities[0]}"`,
      detail: verdict.detail,
      fix: verdict.fix,
      errorCode: "caa:forbidden",
      actionBy: "customer",
    };
  } catch (error) {
    if (!(error instanceof DnsQueryError)) throw error;
    return {
      name: "caa",
      status: "error",
      found: error.message,
      expected: null,
      detail: `Could not look up the CAA records of ${domain}: ${error.message}.`,
      fix:
        error.kind === "servfail"
          ? `Check that the DNS servers of ${domain} and its parents answer CAA queries.`
          : null,
      errorCode: "dns:resolution_failed",
      actionBy: error.kind === "servfail" ? "customer" : "provider",
    };
  }
}

function pass(name: CheckName, found: string, detail: string): EligibilityCheck {
  return {
    name,
    status: "pass",
    found,
    expected: null,
    detail,
    fix: null,
    errorCode: null,
    actionBy: null,
  };
}
