// What an API key may do. Each resource has a grant to read it and, where it can be changed, a
// grant to change it that also lets the key read it. The names are SparkPost's where SparkPost
// has the resource (tracking_domains/manage, webhooks/modify, message_events/view, ...).
// Runs in workerd and in Node (the key-making script gives new keys every grant).

export const grantNames = [
  "account/view",
  "api_keys/manage",
  "tracking_domains/view",
  "tracking_domains/manage",
  "sending_domains/view",
  "sending_domains/manage",
  "subaccounts/view",
  "subaccounts/manage",
  "tracking_links/create",
  "message_events/view",
  "webhooks/view",
  "webhooks/modify",
] as const;

export type Grant = (typeof grantNames)[number];

/**
 * SparkPost's grants for what this service does not do (sending, templates, suppression lists,
 * ...), from its API Keys reference: a SparkPost client may ask for them, and they are ignored
 * (a key made with them holds only the grants above). A name in neither list is refused.
 */
export const sparkPostOnlyGrants = [
  "account/modify",
  "events-search/view",
  "inbound-domains/manage",
  "inbound-domains/view",
  "ip_pools/manage",
  "ip_pools/view",
  "metrics/view",
  "recipient-lists/manage",
  "recipient-lists/view",
  "relay-webhooks/manage",
  "relay-webhooks/view",
  "smtp/inject",
  "suppression_lists/manage",
  "suppression_lists/view",
  "templates/modify",
  "templates/view",
  "transmissions/modify",
  "transmissions/view",
] as const;

/** Grants that only make sense for the primary account: a subaccount's key cannot hold them. */
export const primaryOnlyGrants: readonly Grant[] = ["subaccounts/view", "subaccounts/manage"];

/** Every grant a key may hold: a primary-account key's, or a subaccount key's. */
export function everyGrant(forSubaccount: boolean): Grant[] {
  return forSubaccount ? grantNames.filter((g) => !primaryOnlyGrants.includes(g)) : [...grantNames];
}

/** A read grant and the change grant that includes it. */
const includedIn: Partial<Record<Grant, Grant>> = {
  "tracking_domains/view": "tracking_domains/manage",
  "sending_domains/view": "sending_domains/manage",
  "subaccounts/view": "subaccounts/manage",
  "webhooks/view": "webhooks/modify",
};

function isGrant(name: string): name is Grant {
  return (grantNames as readonly string[]).includes(name);
}

/** Whether a key holding `held` has `needed`, directly or through the grant that includes it. */
export function holds(held: readonly Grant[], needed: Grant): boolean {
  if (held.includes(needed)) return true;
  const wider = includedIn[needed];
  return wider !== undefined && held.includes(wider);
}

/**
 * A key's stored grants (a JSON array). Names this version does not know are dropped rather
 * than trusted, and anything unreadable holds nothing: a damaged row can only do less.
 */
export function parseGrants(json: string | null | undefined): Grant[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json ?? "[]");
  } catch {
    return [];
  }
  return Array.isArray(parsed)
    ? parsed.filter((g): g is Grant => typeof g === "string" && isGrant(g))
    : [];
}

/** Grants in their canonical order, each once: how they are stored and shown. */
export function normalizeGrants(grants: Iterable<Grant>): Grant[] {
  const set = new Set(grants);
  return grantNames.filter((g) => set.has(g));
}
