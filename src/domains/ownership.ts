// Proof of ownership: a TXT record at `<label>.<domain>` holding an account's value says that
// whoever controls the name's DNS wants that account to hold it. A CNAME to our endpoint only
// says the name points at us, not for whom, so the proof is asked where that matters: a name
// another account verified before, a claim on a name another account holds, and every domain of
// an account whose operator requires it. The value is derived from the account, stable and not
// secret: knowing it does not help anyone who cannot write the name's DNS.
import { sha256 } from "@noble/hashes/sha2.js";
import { DnsQueryError, type DnsResolver } from "../dns/doh";
import { hex, utf8 } from "../util/encoding";
import type { ActionBy } from "./model";

/** The record to add: its name and the value expected in it. */
export interface OwnershipRecord {
  name: string;
  value: string;
}

/** What identifies an account for its value: its id and when it was made. */
export interface AccountIdentity {
  id: number;
  createdAt: string;
}

export function ownershipValue(account: AccountIdentity): string {
  const digest = sha256(utf8(`tracking-edge ownership\n${account.id}\n${account.createdAt}`));
  return `tracking-edge-account=${hex(digest.subarray(0, 16))}`;
}

export function ownershipRecord(
  label: string,
  domain: string,
  account: AccountIdentity,
): OwnershipRecord {
  return { name: `${label}.${domain}`, value: ownershipValue(account) };
}

/** A look at the record: `unknown` when DNS could not be asked (nothing is concluded then). */
export interface OwnershipCheck {
  status: "valid" | "pending" | "invalid" | "unknown";
  /** The TXT values found at the record's name. */
  found: string[];
  detail: string;
  fix: string | null;
  actionBy: ActionBy | null;
}

/** Most TXT values kept from one answer (a name with hundreds of records says nothing more). */
const maxFoundValues = 20;

export async function checkOwnership(
  resolver: DnsResolver,
  record: OwnershipRecord,
  /** What the customer does once the record is there. */
  then: "verify" | "claim" = "verify",
): Promise<OwnershipCheck> {
  const add = `Add a TXT record ${record.name} with the value ${record.value}, then ${then} again.`;
  let found: string[];
  try {
    const answer = await resolver.query(record.name, "TXT");
    found = answer.answers
      .filter((r) => r.type === "TXT")
      .map((r) => txtText(r.data))
      .slice(0, maxFoundValues);
  } catch (error) {
    if (!(error instanceof DnsQueryError)) throw error;
    return {
      status: "unknown",
      found: [],
      detail: `Could not look up the TXT record ${record.name}: ${error.message}.`,
      fix: `${then === "verify" ? "Verify" : "Claim"} again in a few minutes.`,
      actionBy: error.kind === "servfail" ? "customer" : "provider",
    };
  }
  if (found.includes(record.value)) {
    return {
      status: "valid",
      found,
      detail: `The TXT record ${record.name} holds this account's value.`,
      fix: null,
      actionBy: null,
    };
  }
  if (found.length === 0) {
    return {
      status: "pending",
      found,
      detail: `There is no TXT record ${record.name}: this name needs proof that its owner wants it in this account.`,
      fix: add,
      actionBy: "customer",
    };
  }
  return {
    status: "invalid",
    found,
    detail: `The TXT record ${record.name} does not hold this account's value (found ${found
      .map((v) => JSON.stringify(v))
      .join(", ")}).`,
    fix: add,
    actionBy: "customer",
  };
}

/** A TXT record's text: its character-strings joined (RFC 7208 §3.3 reads them so too). */
function txtText(data: unknown): string {
  const parts = Array.isArray(data) ? data : [data];
  const decoder = new TextDecoder();
  return parts
    .map((part) =>
      typeof part === "string" ? part : part instanceof Uint8Array ? decoder.decode(part) : "",
    )
    .join("");
}
