// The certificate lifecycle as pure functions: given the state and what a step found out, the
// next state and the event that records the transition. No I/O, no clock: `now` is passed in.
import { nextPollAt, type PollPolicy } from "../acme/poll";
import type { TlsStatus } from "../domains/model";
import { nextRenewalInfoCheck, renewalTime } from "./renewal";
import { nextFailureRetry, nextStepRetry } from "./retry-policy";
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

/** A serving certificate is due for renewal: the checks again, while it keeps serving. */
export function startRenewal(state: CertificateState, now: Date): Decision {
  const renewal = enable(state, now);
  return { ...renewal, event: { ...renewal.event, reason: "renewal due: checking eligibility" } };
}

/** What is due for an installed certificate at `now`. */
export function installedDue(
  state: CertificateState,
  now: Date,
): "renew" | "renewal_info" | "nothing" {
  const current = state.current;
  if (state.phase !== "installed" || !current) return "nothing";
  if (Date.parse(current.renewsAt) <= now.getTime()) return "renew";
  if (current.nextAriCheckAt && Date.parse(current.nextAriCheckAt) <= now.getTime())
    return "renewal_info";
  return "nothing";
}

/**
 * The status may change with time alone (a serving certificate expires): the state with its
 * status brought up to date, and an event, or null when nothing changed.
 */
export function refreshStatus(state: CertificateState, now: Date): Decision | null {
  const status = publicStatus(state, now, state.status);
  if (status === state.status) return null;
  const next = { ...state, status };
  const why = state.error ? ` Last error: ${state.error.detail}` : "";
  return {
    state: next,
    event: event(state, next, now, `certificate ${state.current?.serial} expired.${why}`),
  };
}

/**
 * When the object must next wake: its next step, and for a serving certificate also the moment it
 * expires (so the status turns to expired on time even while nothing else is due).
 */
export function alarmAt(state: CertificateState): string | null {
  if (!state.enabled) return null;
  const times = [state.nextRunAt];
  if (state.current && state.status === "valid")
    times.push(new Date(Date.parse(state.current.notAfter) + 1000).toISOString());
  const due = times.filter((t): t is string => t !== null).sort();
  return due[0] ?? null;
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
  const poll = (
    reason: string,
    retryAfter: string | undefined,
    waiting?: Pick<Failure, "code" | "detail" | "actionBy">,
  ): Decision => {
    const next: CertificateState = {
      ...state,
      polls: state.polls + 1,
      nextRunAt: at(
        nextPollAt(now, state.polls, retryAfter ? new Date(retryAfter) : undefined, polling),
      ),
      ...(waiting ? { error: { ...waiting, at: at(now) } } : {}),
    };
    return {
      state: next,
      event: waiting
        ? event(state, next, now, `${reason}: ${waiting.detail}`, waiting)
        : event(state, next, now, reason),
    };
  };

  switch (outcome.kind) {
    case "eligible":
      return advance("order", "eligible: placing an order");
    case "ordered": {
      const changes = { order: outcome.order };
      const placed = outcome.replaces
        ? `renewal order placed (replaces ${outcome.replaces})`
        : "order placed";
      const status = outcome.status;
      if (outcome.reason)
        return advance(
          status === "pending"
            ? "authorize"
            : status === "ready"
              ? "finalize"
              : "await_certificate",
          outcome.reason,
          changes,
        );
      switch (status) {
        case "pending":
          return advance("authorize", placed, changes);
        case "ready":
          return advance("finalize", `${placed}; already authorized`, changes);
        case "processing":
        case "valid":
          return advance("await_certificate", `${placed}; already finalized`, changes);
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
      return poll("the CA is still issuing", outcome.retryAfter, outcome.waiting);
    case "certificate_ready":
      return advance("download", "certificate issued", {
        order: state.order && { ...state.order, certificate: outcome.certificate },
      });
    case "downloaded":
      return advance("deploy", `certificate ${outcome.certificate.serial} downloaded`, {
        candidate: {
          ...outcome.certificate,
          issuedAt: at(now),
          renewsAt: at(renewalTime(outcome.certificate, null, now)),
          ari: null,
          // Ask for the CA's suggested window at once, if the certificate can be named to it.
          nextAriCheckAt: outcome.certificate.ariId ? at(now) : null,
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
        nextRunAt: installedRunAt(installed),
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
          `certificate ${installed.serial} deployed; valid until ${installed.notAfter}${
            outcome.edgeStatus ? ` (edge: ${outcome.edgeStatus})` : ""
          }`,
        ),
      };
    }
    case "order_deferred": {
      // Not a failure: the order waits its turn, and nothing is counted against the attempt.
      const next: CertificateState = {
        ...state,
        nextRunAt: outcome.until,
        progressAt: at(now),
        error: {
          code: "limit:new_orders",
          detail: outcome.detail,
          actionBy: "provider",
          at: at(now),
        },
      };
      next.status = publicStatus(next, now, "pending");
      return { state: next, event: event(state, next, now, outcome.detail) };
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
    case "renewal_info":
    case "renewal_info_unavailable":
      return renewalInfo(state, outcome, now);
    case "failure":
      return fail(state, outcome.failure, now);
    default:
      return exhaustive(outcome);
  }
}

/** The serving certificate's next step: its renewal, or an earlier look at the CA's window. */
function installedRunAt(current: NonNullable<CertificateState["current"]>): string {
  return current.nextAriCheckAt && current.nextAriCheckAt < current.renewsAt
    ? current.nextAriCheckAt
    : current.renewsAt;
}

function renewalInfo(
  state: CertificateState,
  outcome: Extract<Outcome, { kind: "renewal_info" | "renewal_info_unavailable" }>,
  now: Date,
): Decision {
  const current = state.current;
  if (!current)
    return {
      state,
      event: event(state, state, now, "renewal information without a certificate: ignored"),
    };
  const retryAfter = outcome.retryAfter ? new Date(outcome.retryAfter) : undefined;
  let updated: NonNullable<CertificateState["current"]>;
  let reason: string;
  if (outcome.kind === "renewal_info") {
    const ari = {
      windowStart: outcome.windowStart,
      windowEnd: outcome.windowEnd,
      selected: outcome.selected,
      explanationUrl: outcome.explanationUrl,
      checkedAt: now.toISOString(),
    };
    updated = {
      ...current,
      ari,
      renewsAt: renewalTime(current, ari, now).toISOString(),
      nextAriCheckAt: nextRenewalInfoCheck(now, retryAfter).toISOString(),
    };
    const moved = current.ari?.selected !== ari.selected;
    reason = moved
      ? `the CA suggests renewing between ${ari.windowStart} and ${ari.windowEnd}; renewing at ${updated.renewsAt}`
      : "the CA's suggested renewal window is unchanged";
  } else {
    updated = {
      ...current,
      nextAriCheckAt: outcome.permanent
        ? null
        : nextRenewalInfoCheck(now, retryAfter).toISOString(),
    };
    reason = outcome.permanent
      ? "the CA offers no renewal information; renewing when a third of the lifetime remains"
      : "no renewal information from the CA this time; asking again later";
  }
  const next: CertificateState = { ...state, current: updated, nextRunAt: installedRunAt(updated) };
  return { state: next, event: event(state, next, now, reason) };
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
  const lifetime = state.current && {
    lifetimeMs: Date.parse(state.current.notAfter) - Date.parse(state.current.notBefore),
  };
  const retryAt = nextFailureRetry(now, failures, notBefore, lifetime ?? undefined);
  // The edge would not take a certificate we hold: try deploying it again, not a new order
  // (while it has a day or more to live).
  const redeploy =
    retryAt !== null &&
    state.phase === "deploy" &&
    state.candidate !== null &&
    Date.parse(state.candidate.notAfter) - retryAt.getTime() > 24 * 3600_000;
  const next: CertificateState = {
    ...state,
    phase: redeploy ? "deploy" : retryAt ? "check" : "idle",
    nextRunAt: retryAt?.toISOString() ?? null,
    failures,
    stepRetries: 0,
    polls: 0,
    order: redeploy ? state.order : null,
    candidate: redeploy ? state.candidate : null,
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
  failure?: Pick<Failure, "code">,
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
