// When to renew, as one pure function (the order certmagic uses): the CA's suggested window
// (RFC 9773) when there is one, at a random point in it chosen once; otherwise when a third of
// the lifetime remains (spread a little earlier at random); and at once when less than a
// twentieth remains, whatever the CA said.

export interface Lifetime {
  notBefore: string;
  notAfter: string;
  /**
   * A random number in [0, 1) drawn once per certificate: without a window from the CA, the
   * renewal moves up to a fifteenth of the lifetime earlier, so that certificates issued together
   * (a migration, an onboarding wave) do not all renew together.
   */
  spread: number;
}

export interface RenewalWindow {
  windowStart: string;
  windowEnd: string;
  /** The point in the window this certificate renews at, chosen once per window. */
  selected: string;
}

export function renewalTime(certificate: Lifetime, ari: RenewalWindow | null, now: Date): Date {
  const notBefore = Date.parse(certificate.notBefore);
  const notAfter = Date.parse(certificate.notAfter);
  const lifetime = notAfter - notBefore;
  const urgent = notAfter - lifetime / 20;
  if (now.getTime() >= urgent) return now;
  // A window in the past means "renew now" (RFC 9773 §4.2); a late one yields to the validity.
  if (ari) return new Date(Math.max(now.getTime(), Math.min(Date.parse(ari.selected), urgent)));
  return new Date(notAfter - lifetime / 3 - certificate.spread * (lifetime / 15));
}

/** A uniformly random moment in [start, end] (RFC 9773 §4.2), from a random number in [0, 1). */
export function pointInWindow(start: string, end: string, random: number): string {
  const from = Date.parse(start);
  return new Date(from + Math.floor(random * (Date.parse(end) - from))).toISOString();
}

const minute = 60_000;

/**
 * When to ask for renewal information again: as the CA's Retry-After says (RFC 9773 §4.3), but
 * no more often than once a minute and at least twice a day.
 */
export function nextRenewalInfoCheck(
  now: Date,
  retryAfter: Date | undefined,
  fallbackMs = 12 * 60 * minute,
): Date {
  const wanted = retryAfter ? retryAfter.getTime() - now.getTime() : fallbackMs;
  return new Date(now.getTime() + Math.min(Math.max(wanted, minute), 12 * 60 * minute));
}
