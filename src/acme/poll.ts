// When to look again at an order or authorization that is still in progress. The server's
// Retry-After wins when it gave one (RFC 8555 §7.4: "the client SHOULD wait"); otherwise the
// wait grows from a first delay (a setting: short against a local CA, a second against a real
// one) up to a ceiling. Pure: the caller sleeps, or sets an alarm.

export interface PollPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
}

export const defaultPollPolicy: PollPolicy = { firstDelayMs: 1000, maxDelayMs: 60_000 };

/** The moment of poll number `attempt` (0 for the first look after an action). */
export function nextPollAt(
  now: Date,
  attempt: number,
  retryAfter: Date | undefined,
  policy: PollPolicy = defaultPollPolicy,
): Date {
  if (retryAfter !== undefined) return new Date(Math.max(retryAfter.getTime(), now.getTime()));
  const delay = Math.min(policy.firstDelayMs * 2 ** Math.max(0, attempt), policy.maxDelayMs);
  return new Date(now.getTime() + delay);
}
