// Who holds each tracking domain, as the click path needs it: a link redirects only while the
// account that minted it still holds its domain, so links minted by an account that deleted the
// name, or lost it to a claim, stop within LINK_HOLDER_CACHE_SECONDS. Answers are cached in the
// isolate: a fresh one is used as it is, an older one is used while it is read again in the
// background, and only a missing or expired one makes a click wait for D1 (once per domain per
// isolate every few minutes, never per click).
import type { Region } from "../domains/model";
import { logProblem, messageOf } from "../util/log";

export interface Holder {
  accountId: number;
  subaccountId: number;
  /** Where the domain's clicks and opens are stored (EU domains': only in the EU). */
  region: Region;
}

export const holderLimits = {
  /** Longest an answer is used without reading it again in the background. */
  freshMs: 60_000,
  /** Domains remembered per isolate; the oldest go first. */
  entries: 50_000,
} as const;

interface Entry {
  holder: Holder | null;
  at: number;
  refreshing: boolean;
}

const cache = new Map<string, Entry>();

/**
 * The holder of `domain` if the isolate read it less than `maxAgeMs` ago (LINK_HOLDER_CACHE_SECONDS);
 * undefined when it must ask. An answer past its first quarter (at most a minute) is read again
 * in the background, so a busy domain's clicks never wait.
 */
export function cachedHolder(
  db: D1Database,
  domain: string,
  now: number,
  maxAgeMs: number,
  ctx: Pick<ExecutionContext, "waitUntil">,
): Holder | null | undefined {
  const entry = cache.get(domain);
  if (!entry) return undefined;
  const age = now - entry.at;
  if (age >= maxAgeMs) return undefined;
  if (age >= Math.min(holderLimits.freshMs, maxAgeMs / 4) && !entry.refreshing) {
    entry.refreshing = true;
    ctx.waitUntil(lookUpHolder(db, domain, now).then(() => undefined));
  }
  return entry.holder;
}

/**
 * Reads the holder from D1 (from the nearest read replica, where the database has them) and
 * remembers it. When D1 cannot answer, the last answer is kept, however old; without one the
 * link is honoured (a D1 outage must not break every click), and the failure is logged.
 */
export async function lookUpHolder(
  db: D1Database,
  domain: string,
  now: number,
): Promise<Holder | null> {
  try {
    const row = await db
      .withSession("first-unconstrained")
      .prepare("SELECT account_id, subaccount_id, region FROM tracking_domains WHERE domain = ?")
      .bind(domain)
      .first<{ account_id: number; subaccount_id: number; region: Region }>();
    const holder = row
      ? { accountId: row.account_id, subaccountId: row.subaccount_id, region: row.region }
      : null;
    remember(domain, { holder, at: now, refreshing: false });
    return holder;
  } catch (error) {
    const last = cache.get(domain);
    if (last) last.refreshing = false;
    logProblem("holder_lookup_failed", { domain, message: messageOf(error) });
    return last ? last.holder : HOLDER_UNKNOWN;
  }
}

/**
 * What a failed lookup without any earlier answer stands for: anyone may hold the domain, and it
 * may be an EU domain, so its events are kept in the EU.
 */
export const HOLDER_UNKNOWN: Holder = { accountId: -1, subaccountId: -1, region: "eu" };

/** Whether a link minted for `minted` may be honoured on a domain held by `holder`. */
export function holdsLink(
  holder: Holder | null,
  minted: Pick<Holder, "accountId" | "subaccountId">,
): boolean {
  if (holder === null) return false;
  if (holder === HOLDER_UNKNOWN) return true;
  return holder.accountId === minted.accountId && holder.subaccountId === minted.subaccountId;
}

function remember(domain: string, entry: Entry): void {
  cache.delete(domain);
  if (cache.size >= holderLimits.entries) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(domain, entry);
}

/** Forgets every cached holder (tests that change holders and click in one isolate). */
export function forgetHolders(): void {
  cache.clear();
}
