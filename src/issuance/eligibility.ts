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
}

/**
 * The context for a domain of `region`, from the configuration; `accountEndpoint` is the owning
 * account's own V2 endpoint, when an operator set one.
 */
export function eligibilityContextFor(
  config: Config,
  resolver: DnsResolver,
  region: Region,
  accountUri?: string,
  accountEndpoint?: string | null,
): EligibilityContext {
  return {
    resolver,
    endpoints: endpointsOf({ region, accountEndpoint: accountEndpoint ?? null }, config.endpoints),
    otherEndpoints: regions
      .filter((r) => r !== region)
      .flatMap((r) => [config.endpoints[r].v2, config.endpoints[r].standard]),
    caaIdentities: config.caaIdentities,
    extraPublicSuffixes: config.extraPublicSuffixes,
    policyBlocklist: config.policyBlocklist,
    ...(accountUri ? { accountUri } : {}),
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
  return {
    name: "cname",
    status: v.cnameStatus === "unknown" ? "error" : "fail",
    found,
    expected: context.endpoints.v2,
    detail:
      v.endpoint === "standard"
        ? `${v.detail} Managed HTTPS is not supported on the standard endpoint.`
        : v.detail,
    fix: v.fix,
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
