// The lifecycle's schedules, as data. Failed attempts: 1 min, 10 min, 100 min, then daily for
// 7 days, then no more automatic retries. Transient trouble within a step: quick retries first.
// A server's Retry-After or rate-limit time always pushes a retry later, never earlier.

const minute = 60_000;
const day = 24 * 60 * minute;

/** Delay before attempt n+1 after n consecutive failures (index n-1); past the end: give up. */
export const failureSchedule: readonly number[] = [
  1 * minute,
  10 * minute,
  100 * minute,
  ...Array(7).fill(day),
];

/** Delays for quick retries of one step (network errors, 5xx, DNS not answering). */
export const stepRetrySchedule: readonly number[] = [1000, 2000, 4000, 8000, 16_000, 30_000];

/**
 * When to try again after `failures` consecutive failures; null when retries are exhausted.
 * Renewing a certificate that serves (or served) is never given up: past the schedule it retries
 * daily. Its waits are also kept under a twentieth of the certificate's lifetime, so that a
 * short-lived certificate gets as many chances as a long one.
 */
export function nextFailureRetry(
  now: Date,
  failures: number,
  notBefore?: Date,
  renewal?: { lifetimeMs: number },
): Date | null {
  let delay = failureSchedule[failures - 1];
  if (delay === undefined) {
    if (!renewal) return null;
    delay = failureSchedule[failureSchedule.length - 1] as number;
  }
  if (renewal) delay = Math.min(delay, Math.max(1000, renewal.lifetimeMs / 20));
  return later(new Date(now.getTime() + delay), notBefore);
}

/** When to retry a step after `retries` quick retries; null when they are used up. */
export function nextStepRetry(now: Date, retries: number, notBefore?: Date): Date | null {
  const delay = stepRetrySchedule[retries - 1];
  if (delay === undefined) return null;
  return later(new Date(now.getTime() + delay), notBefore);
}

function later(at: Date, notBefore: Date | undefined): Date {
  return notBefore && notBefore > at ? notBefore : at;
}
