// Verifying a tracking domain: the ownership TXT record where the name needs one, then the CNAME
// chain over DoH (or, for self-managed HTTPS, a probe through the customer's proxy), recorded
// with its verdict; a verified domain is routed to the edge and, with managed HTTPS, starts
// issuance. A domain counts as verified only with its ownership proof, where it needs one: the
// repository's update enforces that whatever the caller.
import { loadConfig } from "../config";
import { createDohResolver, type DnsResolver } from "../dns/doh";
import { admitToEdge, notAdmitted } from "../domains/edge-admission";
import { type HttpsProbeResult, probeHttps } from "../domains/https-probe";
import { endpointsOf, regions, type TrackingDomain } from "../domains/model";
import { checkOwnership, type OwnershipCheck, ownershipRecord } from "../domains/ownership";
import { probeContextFor } from "../domains/proxy-probe";
import {
  getTrackingDomain,
  recordDnsCheck,
  recordHttpsCheck,
  recordOwnershipCheck,
} from "../domains/repository";
import { type CnameVerification, verifyCname } from "../domains/verification";
import { deliverChangesOf } from "../webhooks/delivery";
import { routeToEdge, startIssuance } from "./certificate-lifecycle";

export interface DomainVerification {
  /** The domain as stored after the verification. */
  domain: TrackingDomain;
  cname: CnameVerification;
  /** Self-managed HTTPS: the probe through the customer's proxy. */
  probe: HttpsProbeResult | null;
  /** The look at the ownership TXT record, when the domain needed one. */
  ownership: OwnershipCheck | null;
}

export async function verifyDomain(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  domain: TrackingDomain,
): Promise<DomainVerification> {
  const config = loadConfig(env);
  const resolver = createDohResolver({ url: config.dohUrl });
  const ownership = await lookAtOwnership(env, resolver, domain);
  const otherRegions = regions.filter((r) => r !== domain.region).map((r) => config.endpoints[r]);
  const cname = await verifyCname(
    resolver,
    domain.domain,
    endpointsOf(domain, config.endpoints),
    otherRegions.flatMap((e) => [e.v2, e.standard]),
  );
  const checkedAt = new Date().toISOString();
  let probe: HttpsProbeResult | null = null;
  let reachesUs: boolean;
  if (domain.httpsMode === "self_managed") {
    // The CNAME points at the customer's CDN: only a probe through it proves anything, once the
    // edge routes the name to us at all (Cloudflare wants its TXT record first). A name that
    // still needs our own ownership proof is not put on the edge.
    const admission = ownershipProven(domain, ownership)
      ? await admitToEdge(env, domain.domain)
      : null;
    probe =
      admission && !admission.active
        ? notAdmitted(domain.domain, admission)
        : await probeHttps(domain.domain, probeContextFor(env, config, resolver));
    await recordDnsCheck(env.DB, domain.domain, {
      check: { checkedAt, chain: cname.chain, errorCode: null, detail: cname.detail },
    });
    await recordHttpsCheck(env.DB, domain.domain, {
      checkedAt,
      errorCode: probe.errorCode ?? null,
      detail: probe.detail,
    });
    reachesUs = probe.ok;
  } else {
    reachesUs = cname.cnameStatus === "valid";
    await recordDnsCheck(env.DB, domain.domain, {
      check: { checkedAt, chain: cname.chain, errorCode: cname.errorCode, detail: cname.detail },
      ...(cname.cnameStatus === "unknown"
        ? {}
        : {
            verdict: {
              verified: reachesUs,
              cnameStatus: cname.cnameStatus,
              complianceStatus:
                domain.complianceStatus === "pending" && reachesUs
                  ? "valid"
                  : domain.complianceStatus,
            },
          }),
    });
  }
  // A changed result may have written a webhook event (a D1 trigger): sent after the answer.
  ctx.waitUntil(deliverChangesOf(env, { domain: domain.domain }));
  const after = await getTrackingDomain(env.DB, domain, domain.domain);
  if (!after) throw new Error(`${domain.domain} disappeared while it was verified`);
  // Reaching us is not enough without the ownership proof the name needs.
  if (after.verified) {
    // The edge must know the name, certificate or not (a proxy forwards with the customer's Host).
    await routeToEdge(env, after);
    // A verified managed domain starts issuance (again, after a failure: verifying is a retry).
    if (after.httpsMode === "managed" && reachesUs) await startIssuance(env, after);
  }
  return { domain: after, cname, probe, ownership };
}

/** Whether the name has the ownership proof it needs, counting the look just taken. */
function ownershipProven(domain: TrackingDomain, look: OwnershipCheck | null): boolean {
  const status = look && look.status !== "unknown" ? look.status : domain.ownership.status;
  return status === "not_required" || status === "valid";
}

/** Looks at the ownership TXT record of a domain that needs it and has not proven it yet. */
async function lookAtOwnership(
  env: Env,
  resolver: DnsResolver,
  domain: TrackingDomain,
): Promise<OwnershipCheck | null> {
  if (domain.ownership.status === "not_required" || domain.ownership.status === "valid")
    return null;
  const record = ownershipRecord(loadConfig(env).ownershipTxtLabel, domain.domain, {
    id: domain.accountId,
    createdAt: domain.accountCreatedAt,
  });
  const check = await checkOwnership(resolver, record);
  if (check.status !== "unknown") {
    await recordOwnershipCheck(env.DB, domain.domain, {
      status: check.status,
      checkedAt: new Date().toISOString(),
      found: check.found,
    });
  }
  return check;
}
