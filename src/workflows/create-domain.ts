// Creating a tracking domain: refuse our own names, keep to the account's domain limit, and say
// what stands in the way when the name is taken: by this account, or by another one, which a
// proven owner can claim (claim-domain.ts). The route turns each outcome into its answer.
import { accountIdentity } from "../accounts/repository";
import { loadConfig } from "../config";
import {
  awaitingCertificate,
  type HttpsMode,
  noCertificate,
  type Region,
  type TrackingDomain,
} from "../domains/model";
import { type OwnershipRecord, ownershipRecord } from "../domains/ownership";
import {
  accountEndpointAmong,
  getTrackingDomain,
  holderOf,
  insertTrackingDomain,
} from "../domains/repository";
import { deploymentNameCovering, selfAndParents } from "../domains/reserved-names";

export interface DomainOwner {
  accountId: number;
  /** 0 for the primary account. */
  subaccountId: number;
}

export type CreateDomainOutcome =
  | { kind: "created"; domain: TrackingDomain }
  /** The name is one of ours (an endpoint, an API host) or under one. */
  | { kind: "ours"; name: string }
  /** This account has the name already (perhaps in another subaccount). */
  | { kind: "exists" }
  /** Another account holds it: the record with which the owner of the name can claim it. */
  | { kind: "held_elsewhere"; record: OwnershipRecord }
  | { kind: "limit"; limit: number };

export async function createDomain(
  env: Env,
  owner: DomainOwner,
  request: { domain: string; region: Region; httpsMode: HttpsMode },
): Promise<CreateDomainOutcome> {
  const config = loadConfig(env);
  const ours =
    deploymentNameCovering(request.domain, config) ??
    (await accountEndpointOver(env, request.domain));
  if (ours) return { kind: "ours", name: ours };
  const outcome = await insertTrackingDomain(
    env.DB,
    {
      domain: request.domain,
      accountId: owner.accountId,
      subaccountId: owner.subaccountId,
      region: request.region,
      httpsMode: request.httpsMode,
      tls: request.httpsMode === "managed" ? awaitingCertificate : noCertificate,
    },
    config.limits.trackingDomains,
  );
  if (outcome === "limit") return { kind: "limit", limit: config.limits.trackingDomains };
  if (outcome === "exists") {
    const holder = await holderOf(env.DB, request.domain);
    if (!holder || holder.accountId === owner.accountId) return { kind: "exists" };
    return {
      kind: "held_elsewhere",
      record: await claimRecord(env, request.domain, owner.accountId),
    };
  }
  const created = await getTrackingDomain(env.DB, owner, request.domain);
  if (!created) throw new Error(`${request.domain} was inserted but cannot be read back`);
  return { kind: "created", domain: created };
}

/** The ownership record `accountId` would add to claim (or prove) `domain`. */
export async function claimRecord(
  env: Env,
  domain: string,
  accountId: number,
): Promise<OwnershipRecord> {
  const account = await accountIdentity(env.DB, accountId);
  if (!account) throw new Error(`account ${accountId} does not exist`);
  return ownershipRecord(loadConfig(env).ownershipTxtLabel, domain, account);
}

/** An account's own V2 endpoint that `domain` is or sits under. */
async function accountEndpointOver(env: Env, domain: string): Promise<string | undefined> {
  return (await accountEndpointAmong(env.DB, selfAndParents(domain))) ?? undefined;
}
