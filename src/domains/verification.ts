// DNS verification of a tracking domain: does its CNAME chain reach our endpoint for its region?
// The answer says what was found, what was expected, who must act and how to fix it. A lookup
// that fails says so (dns:resolution_failed) instead of passing for a wrong CNAME.
import type { RegionEndpoints } from "../config";
import { type CnameChain, followCnameChain } from "../dns/cname";
import { DnsQueryError, type DnsResolver } from "../dns/doh";
import type { ActionBy, ErrorCode } from "./model";

export interface CnameVerification {
  /** `unknown` when DNS could not be asked; the stored status is then left as it was. */
  cnameStatus: "valid" | "invalid" | "unknown";
  /** Which of our endpoints the chain reached, if any. */
  endpoint: "v2" | "standard" | null;
  expected: string;
  chain: string[];
  errorCode: ErrorCode | null;
  detail: string;
  fix: string | null;
  actionBy: ActionBy | null;
}

export async function verifyCname(
  resolver: DnsResolver,
  domain: string,
  endpoints: RegionEndpoints,
  otherRegionEndpoints: readonly string[],
): Promise<CnameVerification> {
  const targets = new Set([endpoints.v2, endpoints.standard, ...otherRegionEndpoints]);
  try {
    const found = await followCnameChain(resolver, domain, targets);
    const addresses =
      found.end === "no_cname" && found.chain.length === 1
        ? await addressesOf(resolver, domain)
        : [];
    return judgeCnameChain(domain, found, endpoints, addresses);
  } catch (error) {
    if (!(error instanceof DnsQueryError)) throw error;
    const theirs = error.kind === "servfail";
    return {
      cnameStatus: "unknown",
      endpoint: null,
      expected: endpoints.v2,
      chain: [domain],
      errorCode: "dns:resolution_failed",
      detail: `Could not look up ${domain}: ${error.message}.`,
      fix: theirs
        ? `Check that the DNS servers of ${domain} answer (delegation, DNSSEC), then verify again.`
        : "This is a problem on our side; verify again in a few minutes.",
      actionBy: theirs ? "customer" : "provider",
    };
  }
}

async function addressesOf(resolver: DnsResolver, domain: string): Promise<string[]> {
  try {
    const answer = await resolver.query(domain, "A");
    return answer.answers.filter((r) => r.type === "A").map((r) => String(r.data));
  } catch {
    // Only used to describe what is there instead of a CNAME; the verdict does not depend on it.
    return [];
  }
}

/** The verdict on a CNAME chain, as a pure function of what DNS said. */
export function judgeCnameChain(
  domain: string,
  found: CnameChain,
  endpoints: RegionEndpoints,
  addresses: readonly string[] = [],
): CnameVerification {
  const expected = endpoints.v2;
  const addCname = `Add a CNAME record: ${domain} CNAME ${expected}`;
  const last = found.chain[found.chain.length - 1] ?? domain;
  const shown = found.chain.join(" → ");
  const base = { expected, chain: found.chain };
  if (found.end === "target_reached" && last === endpoints.v2) {
    return {
      ...base,
      cnameStatus: "valid",
      endpoint: "v2",
      errorCode: null,
      detail: `${shown}: reaches the V2 endpoint.`,
      fix: null,
      actionBy: null,
    };
  }
  if (found.end === "target_reached" && last === endpoints.standard) {
    return {
      ...base,
      cnameStatus: "valid",
      endpoint: "standard",
      errorCode: "dns:standard_endpoint",
      detail: `${shown}: the standard endpoint serves tracking over HTTP only; managed HTTPS needs the V2 endpoint.`,
      fix: `Change the CNAME of ${domain} to ${expected}`,
      actionBy: "customer",
    };
  }
  if (found.chain.length === 1) {
    const what =
      found.end === "nxdomain"
        ? `${domain} does not exist in DNS (NXDOMAIN).`
        : addresses.length > 0
          ? `${domain} has no CNAME record; it has A record(s) ${addresses.join(", ")} instead.`
          : `${domain} has no CNAME record.`;
    return {
      ...base,
      cnameStatus: "invalid",
      endpoint: null,
      errorCode: "dns:cname_missing",
      detail: what,
      fix: addCname,
      actionBy: "customer",
    };
  }
  const why: Record<Exclude<CnameChain["end"], "target_reached">, string> = {
    no_cname: `the chain ends at ${last}, not at ${expected}`,
    nxdomain: `${last} does not exist`,
    loop: "the CNAME chain loops",
    too_long: "the CNAME chain is too long",
  };
  const reason =
    found.end === "target_reached" ? `${last} is the endpoint of another region` : why[found.end];
  return {
    ...base,
    cnameStatus: "invalid",
    endpoint: null,
    errorCode: "dns:cname_mismatch",
    detail: `${shown}: ${reason}.`,
    fix: `Change the CNAME of ${domain} to ${expected}`,
    actionBy: "customer",
  };
}
