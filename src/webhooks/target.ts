// Where a webhook may point. We POST to it from our own network on the customer's word, so it
// must be a public HTTPS name: no addresses, no local or internal names, no credentials in the
// URL (they would show wherever the URL is shown; basic auth has its own, sealed, fields).
// Local runs and tests allow http:// and loopback addresses (WEBHOOK_ALLOW_INSECURE_TARGETS).
import { parse } from "tldts";

export const maxTargetLength = 2048;

export type TargetCheck = { ok: true; url: string } | { ok: false; reason: string };

export function checkTarget(input: string, allowInsecure: boolean): TargetCheck {
  if (input.length > maxTargetLength)
    return { ok: false, reason: `target must be at most ${maxTargetLength} characters` };
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return {
      ok: false,
      reason: "target must be an absolute URL, such as https://example.com/hook",
    };
  }
  if (url.protocol !== "https:" && !(allowInsecure && url.protocol === "http:"))
    return { ok: false, reason: "target must be an https:// URL" };
  if (url.username || url.password)
    return {
      ok: false,
      reason: "target must not carry credentials; use auth_type basic and auth_credentials",
    };
  if (!allowInsecure) {
    const host = parse(url.hostname, { allowPrivateDomains: true });
    if (host.isIp) return { ok: false, reason: "target must be a host name, not an IP address" };
    if (!host.domain || !(host.isIcann || host.isPrivate))
      return {
        ok: false,
        reason: `target's host ${url.hostname} is not a public name (no known public suffix)`,
      };
  }
  return { ok: true, url: url.href };
}
