// The certificate lifecycle as pure functions: given the state and what a step found out, the
// next state and the event that records the transition. No I/O, no clock: `now` is passed in.
import { nextPollAt, type PollPolicy } from "../acme/poll";
import type { TlsStatus } from "../domains/model";
import { nextFailureRetry, nextStepRetry, renewalTime } from "./retry-policy";
import type { CertificateState, Failure, Outcome, Phase, TransitionEvent } from "./state";

export interface Decision {
  state: CertificateState;
  event: TransitionEvent;
}

/** How often to look at a pending authorization or order (the CA's Retry-After wins). */
export const defaultIssuancePolling: PollPolicy = { firstDelayMs: 1000, maxDelayMs: 30_000 };

/** A managed-HTTPS domain that should get (or keep) a certificate: start from the check. */
export function enable(state: CertificateState, now: Date): Decision {
  const next: CertificateState = {
    ...state,
    enabled: true,
    phase: "check",
    status: publicStatus({ ...state, enabled: true }, now, "pending"),
    nextRunAt: now.toISOString(),
    progressAt: now.toISOString(),
    failures: 0,
    stepRetries: 0,
    polls: 0,
    order: null,
    candidate: null,
    error: null,
  };
  return {
    state: next,
    event: event(state, next, now, "managed HTTPS enabled: checking eligibility"),
  };
}

/** Managed HTTPS turned off: nothing more is scheduled; the history stays. */
export function disable(state: CertificateState, now: Date): Decision {
  const next: CertificateState = {
    ...state,
    enabled: false,
    phase: "idle",
    status: "unknown",
    nextRunAt: null,
    order: null,
    candidate: null,
    error: null,
  };
  return { state: next, event: event(state, next, now, "managed HTTPS disabled") };
}

/** The next state after performing `state.phase` and finding `outcome`. */
export function decide(
  state: CertificateState,
  outcome: Outcome,
  now: Date,
  polling: PollPolicy = defaultIssuancePolling,
): Decision {
  const at = (d: Date) => d.toISOString();
  const advance = (
    phase: Phase,
    reason: string,
    changes: Partial<CertificateState> = {},
    runAt: Date = now,
  ): Decision => {
    const next: CertificateState = {
      ...state,
      phase,
      nextRunAt: at(runAt),
      progressAt: at(now),
      stepRetries: 0,
      polls: 0,
      error: null,
      ...changes,
    };
    next.status = publicStatus(next, now, "pending");
    return { state: next, event: event(state, next, now, reason) };
  };
  const poll = (reason: string, retryAfter: string | undefined): Decision => {
    const next: CertificateState = {
      ...state,
      polls: state.polls + 1,
      nextRunAt: at(
        nextPollAt(now, state.polls, retryAfter ? new Date(retryAfter) : undefined, polling),
      ),
    };
    return { state: next, event: event(state, next, now, reason) };
  };

  switch (outcome.kind) {
    case "eligible":
      return advance("order", "eligible: placing an order");
    case "ordered": {
      const changes = { order: outcome.order };
      const status = outcome.status;
      switch (status) {
        case "pending":
          return advance("authorize", "order placed", changes);
        case "ready":
          return advance("finalize", "order placed; already authorized", changes);
        case "processing":
        case "valid":
          return advance("await_certificate", "order placed; already finalized", changes);
      }
      return exhaustive(status);
    }
    case "authorization_pending":
      if (state.phase === "authorize") {
        return advance(
          "await_authorization",
          "challenge answered; waiting for the CA to validate",
          {},
          nextPollAt(now, 0, optionalDate(outcome.retryAfter), polling),
        );
      }
      return poll("the CA is still validating", outcome.retryAfter);
    case "authorized":
      return advance("finalize", "domain validated");
    case "finalized":
      if (outcome.status === "valid" && outcome.certificate) {
        return advance("download", "certificate issued", {
          order: state.order && { ...state.order, certificate: outcome.certificate },
        });
      }
      return advance(
        "await_certificate",
        "order finalized; waiting for the certificate",
        {},
        nextPollAt(now, 0, optionalDate(outcome.retryAfter), polling),
      );
    case "certificate_pending":
      return poll("the CA is still issuing", outcome.retryAfter);
    case "certificate_ready":
      return advance("download", "certificate issued", {
        order: state.order && { ...state.order, certificate: outcome.certificate },
      });
    case "downloaded":
      return advance("deploy", `certificate ${outcome.certificate.serial} downloaded`, {
        candidate: {
          ...outcome.certificate,
          issuedAt: at(now),
          renewsAt: at(
            renewalTime(
              new Date(outcome.certificate.notBefore),
              new Date(outcome.certificate.notAfter),
            ),
          ),
        },
      });
    case "deployed": {
      const installed = state.candidate;
      if (!installed)
        return fail(
          state,
          {
            severity: "transient",
            code: "service:internal",
            actionBy: "provider",
            detail: "Nothing to deploy.",
          },
          now,
        );
      const next: CertificateState = {
        ...state,
        phase: "installed",
        status: "valid",
        nextRunAt: installed.renewsAt,
        progressAt: at(now),
        failures: 0,
        stepRetries: 0,
        polls: 0,
        order: null,
        error: null,
        current: installed,
        candidate: null,
      };
      return {
        state: next,
        event: event(
          state,
          next,
          now,
          `certificate ${installed.serial} deployed; valid until ${installed.notAfter}`,
        ),
      };
    }
    case "order_lost": {
      // Bounded like a transient failure, so a CA that keeps forgetting cannot loop us fast.
      const retries = state.stepRetries + 1;
      const retryAt = nextStepRetry(now, retries);
      if (!retryAt)
        return fail(
          state,
          {
            severity: "failed",
            code: "acme:temporary",
            actionBy: "provider",
            detail: outcome.detail,
          },
          now,
        );
      const next: CertificateState = {
        ...state,
        phase: "order",
        order: null,
        candidate: null,
        stepRetries: retries,
        polls: 0,
        nextRunAt: at(retryAt),
      };
      return {
        state: next,
        event: event(state, next, now, `${outcome.detail}; placing a new order`),
      };
    }
    case "failure":
      return fail(state, outcome.failure, now);
    default:
      return exhaustive(outcome);
  }
}

function fail(state: CertificateState, failure: Failure, now: Date): Decision {
  const at = now.toISOString();
  const error = { code: failure.code, detail: failure.detail, actionBy: failure.actionBy, at };
  const notBefore = failure.retryAt ? new Date(failure.retryAt) : undefined;

  if (failure.severity === "transient") {
    const retries = state.stepRetries + 1;
    const retryAt = nextStepRetry(now, retries, notBefore);
    if (retryAt) {
      const next: CertificateState = {
        ...state,
        stepRetries: retries,
        nextRunAt: retryAt.toISOString(),
        error,
      };
      next.status = publicStatus(next, now, "pending");
      return {
        state: next,
        event: event(state, next, now, `${failure.detail} Retrying this step.`, failure),
      };
    }
    // Quick retries used up: count it as a failed attempt.
  }
  if (failure.severity === "unavailable") {
    const next: CertificateState = {
      ...state,
      phase: "idle",
      nextRunAt: null,
      order: null,
      candidate: null,
      error,
      stepRetries: 0,
      polls: 0,
    };
    next.status = publicStatus(next, now, "unavailable");
    return { state: next, event: event(state, next, now, failure.detail, failure) };
  }
  const failures = state.failures + 1;
  const retryAt = nextFailureRetry(now, failures, notBefore);
  const next: CertificateState = {
    ...state,
    phase: retryAt ? "check" : "idle",
    nextRunAt: retryAt?.toISOString() ?? null,
    failures,
    stepRetries: 0,
    polls: 0,
    order: null,
    candidate: null,
    error: retryAt
      ? error
      : {
          ...error,
          detail: `${failure.detail} Automatic retries have stopped; run the check and enable again.`,
        },
  };
  next.status = publicStatus(next, now, "failed");
  const when = retryAt
    ? ` Next attempt at ${retryAt.toISOString()}.`
    : " No more automatic attempts.";
  return { state: next, event: event(state, next, now, `${failure.detail}${when}`, failure) };
}

/**
 * The public status: a serving certificate keeps the domain `valid` (renewal trouble is shown as
 * an error) until it expires; without one, the lifecycle's own status.
 */
export function publicStatus(
  state: Pick<CertificateState, "enabled" | "current">,
  now: Date,
  otherwise: TlsStatus,
): TlsStatus {
  if (!state.enabled) return "unknown";
  // RFC 5280 §4.1.2.5: the validity period includes notAfter itself.
  if (state.current) return new Date(state.current.notAfter) >= now ? "valid" : "expired";
  return otherwise;
}

/** Pending without progress for this long is reported as stuck. */
export const stuckAfterMs = 30 * 60_000;

export function isStuck(
  state: Pick<CertificateState, "status" | "progressAt" | "phase">,
  now: Date,
): boolean {
  return (
    state.status === "pending" &&
    state.phase !== "idle" &&
    now.getTime() - Date.parse(state.progressAt) > stuckAfterMs
  );
}

function event(
  before: CertificateState,
  after: CertificateState,
  now: Date,
  reason: string,
  failure?: Failure,
): TransitionEvent {
  return {
    at: now.toISOString(),
    from: before.phase,
    to: after.phase,
    status: after.status,
    reason,
    errorCode: failure?.code ?? null,
  };
}

const optionalDate = (iso: string | undefined) => (iso ? new Date(iso) : undefined);

function exhaustive(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}
