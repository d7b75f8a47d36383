// Claiming a name: whoever controls a name's DNS can move it to their account by publishing the
// account's ownership TXT record, whoever holds it now (a squatter, a former customer's account).
// The former holder's domain ends: its webhooks hear domain_claimed, its certificate leaves the
// edge, and the links it minted stop redirecting (src/tracking/holders.ts). No operator needed.
import { loadConfig } from "../config";
import { createDohResolver } from "../dns/doh";
import {
  awaitingCertificate,
  type HttpsMode,
  noCertificate,
  type Region,
  type TrackingDomain,
} from "../domains/model";
import { checkOwnership, type OwnershipCheck, type OwnershipRecord } from "../domains/ownership";
import {
  accountEndpointAmong,
  claimTrackingDomain,
  getTrackingDomain,
  holderOf,
} from "../domains/repository";
import { deploymentNameCovering, selfAndParents } from "../domains/reserved-names";
import { logProblem, messageOf } from "../util/log";
import { deliverChangesOf } from "../webhooks/delivery";
import { forgetCertificates } from "./certificate-lifecycle";
import { claimRecord, type DomainOwner } from "./create-domain";

export type ClaimOutcome =
  | { kind: "claimed"; domain: TrackingDomain; from: "another_account" | "nobody" }
  | { kind: "ours"; name: string }
  /** The caller's account holds the name already. */
  | { kind: "already_held" }
  | { kind: "not_proven"; record: OwnershipRecord; check: OwnershipCheck }
  | { kind: "limit"; limit: number }
  /** The name went to a third account while this claim ran. */
  | { kind: "conflict" };

export async function claimDomain(
  env: Env,
  ctx: Pick<ExecutionContext, "waitUntil">,
  claimant: DomainOwner,
  request: { domain: string; region: Region; httpsMode: HttpsMode },
): Promise<ClaimOutcome> {
  const config = loadConfig(env);
  const ours =
    deploymentNameCovering(request.domain, config) ??
    (await accountEndpointAmong(env.DB, selfAndParents(request.domain))) ??
    undefined;
  if (ours) return { kind: "ours", name: ours };
  const before = await holderOf(env.DB, request.domain);
  if (before?.accountId === claimant.accountId) return { kind: "already_held" };
  const record = await claimRecord(env, request.domain, claimant.accountId);
  const check = await checkOwnership(createDohResolver({ url: config.dohUrl }), record, "claim");
  if (check.status !== "valid") return { kind: "not_proven", record, check };
  const formerDomain = before ? await getTrackingDomain(env.DB, before, request.domain) : null;
  const moved = await claimTrackingDomain(env.DB, {
    claimant: {
      domain: request.domain,
      accountId: claimant.accountId,
      subaccountId: claimant.subaccountId,
      region: request.region,
      httpsMode: request.httpsMode,
      tls: request.httpsMode === "managed" ? awaitingCertificate : noCertificate,
    },
    from: before,
    found: check.found,
    detail: `Another account proved it owns ${request.domain} with the DNS record ${record.name} and claimed it. This account's domain ended: its certificate was taken off the edge and links minted for it no longer redirect.`,
    limit: config.limits.trackingDomains,
  });
  if (!moved) {
    const now = await holderOf(env.DB, request.domain);
    return now && now.accountId !== before?.accountId
      ? { kind: "conflict" }
      : { kind: "limit", limit: config.limits.trackingDomains };
  }
  if (formerDomain) {
    // The former holder's certificate and keys go, and the edge stops serving them.
    await forgetCertificates(env, formerDomain).catch((error: unknown) =>
      logProblem("certificate_cleanup_failed", {
        domain: request.domain,
        message: messageOf(error),
      }),
    );
    ctx.waitUntil(deliverChangesOf(env, { accounts: [formerDomain.accountId] }));
  }
  const domain = await getTrackingDomain(env.DB, claimant, request.domain);
  if (!domain) throw new Error(`${request.domain} was claimed but cannot be read back`);
  return { kind: "claimed", domain, from: formerDomain ? "another_account" : "nobody" };
}
