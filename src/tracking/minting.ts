// Which tracking domain and which scheme a message's links use, and the links themselves. The
// domain is the sending domain's own tracking domain, else the subaccount's default, else the
// account's default — verified ones only, since an unverified one does not reach us. Links say
// https:// only when the domain serves HTTPS now (its certificate is valid), else http://.

import { servesHttps, type TrackingDomain } from "../domains/model";
import { getTrackingDomain } from "../domains/repository";
import { clickPrefix, openPrefix } from "./handlers";
import type { SigningRing } from "./link-token";
import { clickTarget, type LinkContext, mintToken } from "./link-token";

export interface MintingScope {
  accountId: number;
  /** 0 for the primary account. */
  subaccountId: number;
}

export async function trackingDomainFor(
  db: D1Database,
  scope: MintingScope,
  sendingDomain?: string,
): Promise<TrackingDomain | null> {
  const owner = { accountId: scope.accountId, subaccountId: scope.subaccountId };
  if (sendingDomain) {
    const row = await db
      .prepare(
        "SELECT tracking_domain FROM sending_domains WHERE domain = ? AND account_id = ? AND subaccount_id = ?",
      )
      .bind(sendingDomain, scope.accountId, scope.subaccountId)
      .first<{ tracking_domain: string | null }>();
    if (row?.tracking_domain) {
      const associated = await getTrackingDomain(db, owner, row.tracking_domain);
      if (associated?.verified) return associated;
    }
  }
  for (const subaccountId of scope.subaccountId === 0 ? [0] : [scope.subaccountId, 0]) {
    const row = await db
      .prepare(
        "SELECT domain FROM tracking_domains WHERE account_id = ? AND subaccount_id = ? AND is_default = 1 AND verified = 1",
      )
      .bind(scope.accountId, subaccountId)
      .first<{ domain: string }>();
    if (row) return getTrackingDomain(db, { accountId: scope.accountId, subaccountId }, row.domain);
  }
  return null;
}

export interface LinkMinter {
  trackingDomain: string;
  scheme: "https" | "http";
  click(url: string, linkName?: string): Promise<string>;
  open(): Promise<string>;
}

export function linkMinter(
  ring: SigningRing,
  domain: TrackingDomain,
  context: LinkContext,
): LinkMinter {
  const scheme = servesHttps(domain) ? "https" : "http";
  const base = `${scheme}://${domain.domain}`;
  return {
    trackingDomain: domain.domain,
    scheme,
    click: async (url, linkName) => {
      // The token holds the URL parser's ASCII serialization: what the click's Location says.
      const checked = clickTarget(url);
      if ("problem" in checked) throw new Error(`the target URL ${checked.problem}`);
      const content = {
        ...context,
        url: checked.target,
        ...(linkName === undefined ? {} : { linkName }),
      };
      return `${base}${clickPrefix}${mintToken(ring, "click", domain.domain, content)}`;
    },
    open: async () => `${base}${openPrefix}${mintToken(ring, "open", domain.domain, context)}`,
  };
}
