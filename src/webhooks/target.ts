// Where a webhook may point. We POST to it from our own network on the customer's word, so it
// must be a public HTTPS name: no addresses, no local or internal names, no credentials in the
// URL (they would show wherever the URL is shown; basic auth has its own, sealed, fields).
// Local runs and tests allow http:// and loopback addresses (WEBHOOK_ALLOW_INSECURE_TARGETS).
// A name checked when the webhook was made can point elsewhere later, so each delivery first
// resolves it and refuses one that answers with an address that is not public.
import ipaddr from "ipaddr.js";
import { parse } from "tldts";
import type { DnsResolver } from "../dns/doh";

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

/** Whether a POST may go to `address`: ipaddr.js's unicast only (no loopback, private, link-local, CGNAT, reserved…). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  return parsed.range() === "unicast";
}

/**
 * Before a delivery: the target's host, resolved now, must answer only public addresses. The
 * reason when not; null when it does, or when it does not resolve (the POST then fails itself
 * and says so).
 */
export async function targetAddressProblem(
  target: string,
  resolver: DnsResolver,
): Promise<string | null> {
  const host = new URL(target).hostname;
  const answers = await Promise.all(
    (["A", "AAAA"] as const).map((type) =>
      resolver
        .query(host, type)
        .then((answer) =>
          answer.answers
            .filter((r) => r.type === type && typeof r.data === "string")
            .map((r) => String(r.data)),
        )
        .catch(() => [] as string[]),
    ),
  );
  const blocked = answers.flat().find((address) => !isPublicAddress(address));
  return blocked
    ? `target's host ${host} resolves to ${blocked}, which is not a public address`
    : null;
}
