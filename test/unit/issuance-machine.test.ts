// The certificate lifecycle as pure transitions: the happy path, every kind of failure, the retry
// schedule and its limits, renewal while a certificate serves, expiry, and "stuck".
import { describe, expect, it } from "vitest";
import { AcmeNetworkError, AcmeProblem, acmeErrorTypes } from "../../src/acme/problem";
import { failureFrom, isLostResource } from "../../src/issuance/failures";
import { decide, disable, enable, isStuck, publicStatus } from "../../src/issuance/machine";
import {
  failureSchedule,
  nextFailureRetry,
  renewalTime,
  stepRetrySchedule,
} from "../../src/issuance/retry-policy";
import {
  type CertificateState,
  type Failure,
  initialState,
  type Outcome,
} from "../../src/issuance/state";

const t0 = new Date("2026-11-26T12:00:00.000Z");
const plus = (ms: number) => new Date(t0.getTime() + ms);
const minute = 60_000;
const day = 24 * 60 * minute;
const order = {
  url: "https://ca/order/1",
  authorizations: ["https://ca/authz/1"],
  finalize: "https://ca/order/1/finalize",
};
const certificate = {
  serial: "0a",
  notBefore: "2026-11-26T12:00:00.000Z",
  notAfter: "2027-02-24T12:00:00.000Z",
};

const enabled = () => enable(initialState("track.example.com", "us", t0), t0).state;
const run = (state: CertificateState, ...outcomes: Outcome[]) =>
  outcomes.reduce((s, o) => decide(s, o, t0).state, state);
const failure = (severity: Failure["severity"], extra: Partial<Failure> = {}): Outcome => ({
  kind: "failure",
  failure: { severity, code: "caa:forbidden", detail: "no", actionBy: "customer", ...extra },
});
const happyPath: Outcome[] = [
  { kind: "eligible" },
  { kind: "ordered", order, status: "pending" },
  { kind: "authorization_pending" },
  { kind: "authorized" },
  { kind: "finalized", status: "processing" },
  { kind: "certificate_ready", certificate: "https://ca/cert/1" },
  { kind: "downloaded", certificate },
  { kind: "deployed" },
];

describe("the lifecycle, step by step", () => {
  it("starts pending at the check, due now", () => {
    expect(enabled()).toMatchObject({
      enabled: true,
      phase: "check",
      status: "pending",
      nextRunAt: t0.toISOString(),
      failures: 0,
    });
  });

  it("walks the happy path to an installed certificate, renewed when a third of its life remains", () => {
    const phases = [enabled()];
    for (const outcome of happyPath)
      phases.push(decide(phases.at(-1) as CertificateState, outcome, t0).state);
    expect(phases.map((s) => s.phase)).toEqual([
      "check", "order", "authorize", "await_authorization", "finalize", "await_certificate", "download", "deploy", "installed",
    ]); // biome-ignore format: one phase per step
    const installed = phases.at(-1) as CertificateState;
    expect(installed).toMatchObject({
      status: "valid",
      error: null,
      order: null,
      candidate: null,
      failures: 0,
    });
    expect(installed.current).toMatchObject({
      serial: "0a",
      notAfter: certificate.notAfter,
      renewsAt: "2027-01-25T12:00:00.000Z",
    });
    expect(installed.nextRunAt).toBe(installed.current?.renewsAt);
  });

  it("polls with growing waits, and honours the CA's Retry-After", () => {
    let state = run(enabled(), ...happyPath.slice(0, 3));
    expect(state.nextRunAt).toBe(plus(1000).toISOString());
    state = decide(state, { kind: "authorization_pending" }, t0).state;
    expect(state.nextRunAt).toBe(plus(1000).toISOString());
    state = decide(state, { kind: "authorization_pending" }, t0).state;
    expect(state.nextRunAt).toBe(plus(2000).toISOString());
    state = decide(
      state,
      { kind: "authorization_pending", retryAfter: plus(45_000).toISOString() },
      t0,
    ).state;
    expect(state.nextRunAt).toBe(plus(45_000).toISOString());
  });

  it("skips ahead when the CA has authorized or finalized already", () => {
    expect(
      run(enabled(), { kind: "eligible" }, { kind: "ordered", order, status: "ready" }).phase,
    ).toBe("finalize");
    expect(
      run(enabled(), { kind: "eligible" }, { kind: "ordered", order, status: "valid" }).phase,
    ).toBe("await_certificate");
    expect(
      run(enabled(), ...happyPath.slice(0, 4), {
        kind: "finalized",
        status: "valid",
        certificate: "https://ca/c",
      }).phase,
    ).toBe("download");
  });
});

describe("failures", () => {
  it("retries a transient failure on the same step, quickly, then counts it as a failed attempt", () => {
    let state = run(enabled(), { kind: "eligible" });
    for (const [i, delay] of stepRetrySchedule.entries()) {
      state = decide(
        state,
        failure("transient", { code: "acme:temporary", actionBy: "provider" }),
        t0,
      ).state;
      expect(state).toMatchObject({
        phase: "order",
        stepRetries: i + 1,
        status: "pending",
        nextRunAt: plus(delay).toISOString(),
      });
      expect(state.error?.code).toBe("acme:temporary");
    }
    state = decide(state, failure("transient"), t0).state;
    expect(state).toMatchObject({
      phase: "check",
      status: "failed",
      failures: 1,
      stepRetries: 0,
      nextRunAt: plus(minute).toISOString(),
    });
  });

  it("follows the schedule 1 min, 10 min, 100 min, then daily for 7 days, then stops", () => {
    expect(failureSchedule).toEqual([
      minute,
      10 * minute,
      100 * minute,
      day,
      day,
      day,
      day,
      day,
      day,
      day,
    ]);
    let state = enabled();
    const waits: number[] = [];
    for (let i = 0; i < 11; i++) {
      state = decide({ ...state, phase: "check" }, failure("failed"), t0).state;
      waits.push(state.nextRunAt ? Date.parse(state.nextRunAt) - t0.getTime() : -1);
    }
    expect(waits).toEqual([...failureSchedule, -1]);
    expect(state).toMatchObject({ phase: "idle", status: "failed", failures: 11 });
    expect(state.error?.detail).toContain("Automatic retries have stopped");
  });

  it("waits for a rate limit to lift, however soon the schedule would retry", () => {
    const lifts = plus(3 * 60 * minute).toISOString();
    const state = decide(
      run(enabled(), { kind: "eligible" }),
      failure("rate_limited", { code: "acme:rate_limited", retryAt: lifts }),
      t0,
    ).state;
    expect(state).toMatchObject({
      status: "failed",
      nextRunAt: lifts,
      error: { code: "acme:rate_limited", actionBy: "customer" },
    });
  });

  it("stops for good when the name is unavailable", () => {
    const state = decide(
      run(enabled(), { kind: "eligible" }),
      failure("unavailable", { code: "acme:rejected_identifier" }),
      t0,
    ).state;
    expect(state).toMatchObject({
      phase: "idle",
      status: "unavailable",
      nextRunAt: null,
      error: { code: "acme:rejected_identifier" },
    });
  });

  it("places a new order when the CA has forgotten the old one, a bounded number of times", () => {
    let state = run(enabled(), ...happyPath.slice(0, 3));
    state = decide(
      state,
      { kind: "order_lost", detail: "The CA no longer knows the order" },
      t0,
    ).state;
    expect(state).toMatchObject({ phase: "order", order: null, stepRetries: 1 });
    for (let i = 0; i < stepRetrySchedule.length; i++)
      state = decide(state, { kind: "order_lost", detail: "again" }, t0).state;
    expect(state).toMatchObject({ phase: "check", status: "failed", failures: 1 });
  });

  it("enabling again after failures tries again at once, from the check", () => {
    const failed = decide(run(enabled(), { kind: "eligible" }), failure("failed"), t0).state;
    expect(enable(failed, plus(5000)).state).toMatchObject({
      phase: "check",
      status: "pending",
      failures: 0,
      error: null,
      nextRunAt: plus(5000).toISOString(),
    });
  });

  it("disabling stops everything and shows managed HTTPS off", () => {
    expect(disable(run(enabled(), { kind: "eligible" }), t0).state).toMatchObject({
      enabled: false,
      phase: "idle",
      status: "unknown",
      nextRunAt: null,
    });
  });
});

describe("while a certificate serves", () => {
  const installed = () => run(enabled(), ...happyPath);

  it("stays valid through a failing renewal, showing the error, until the certificate expires", () => {
    const renewing = enable(installed(), t0).state;
    expect(renewing).toMatchObject({ phase: "check", status: "valid" });
    const failing = decide(renewing, failure("failed"), t0).state;
    expect(failing).toMatchObject({
      status: "valid",
      error: { code: "caa:forbidden" },
      current: { serial: "0a" },
    });
    expect(publicStatus(failing, new Date(certificate.notAfter), "failed")).toBe("valid");
    expect(publicStatus(failing, new Date(Date.parse(certificate.notAfter) + 1), "failed")).toBe(
      "expired",
    );
  });

  it("swaps to the new certificate only once it is deployed", () => {
    const downloaded = run(enable(installed(), t0).state, ...happyPath.slice(0, 6), {
      kind: "downloaded",
      certificate: { ...certificate, serial: "0b" },
    });
    expect(downloaded).toMatchObject({
      phase: "deploy",
      current: { serial: "0a" },
      candidate: { serial: "0b" },
      status: "valid",
    });
    expect(decide(downloaded, { kind: "deployed" }, t0).state).toMatchObject({
      current: { serial: "0b" },
      candidate: null,
    });
  });
});

describe("stuck", () => {
  it("is pending with no progress for more than 30 minutes", () => {
    const state = run(
      enabled(),
      { kind: "eligible" },
      { kind: "ordered", order, status: "pending" },
    );
    expect(isStuck(state, plus(30 * minute))).toBe(false);
    expect(isStuck(state, plus(30 * minute + 1))).toBe(true);
    // Polling is not progress; moving on is.
    const polled = decide(
      decide(state, { kind: "authorization_pending" }, plus(20 * minute)).state,
      { kind: "authorization_pending" },
      plus(29 * minute),
    ).state;
    expect(isStuck(polled, plus(31 * minute))).toBe(false);
    expect(isStuck(polled, plus(51 * minute))).toBe(true);
  });
});

describe("failureFrom", () => {
  const problem = (type: string, status = 403, detail = "said so") =>
    new AcmeProblem(type, detail, status);
  it.each([
    [
      problem(acmeErrorTypes.rejectedIdentifier),
      "unavailable",
      "acme:rejected_identifier",
      "customer",
    ],
    [problem(acmeErrorTypes.caa), "failed", "caa:forbidden", "customer"],
    [problem(acmeErrorTypes.dns, 400), "failed", "acme:dns", "customer"],
    [problem(acmeErrorTypes.connection, 400), "failed", "acme:connection", "provider"],
    [problem(acmeErrorTypes.unauthorized), "failed", "acme:unauthorized", "provider"],
    [problem(acmeErrorTypes.rateLimited, 429), "rate_limited", "acme:rate_limited", "provider"],
    [problem(acmeErrorTypes.serverInternal, 500), "transient", "acme:temporary", "provider"],
    [problem("urn:example:odd", 503), "transient", "service:internal", "provider"],
    [
      new AcmeNetworkError("timeout", "https://ca", true),
      "transient",
      "acme:temporary",
      "provider",
    ],
    [new TypeError("bug"), "transient", "service:internal", "provider"],
  ])("maps %s", (error, severity, code, actionBy) => {
    const mapped = failureFrom(error);
    expect(mapped).toMatchObject({ severity, code, actionBy });
    if (error instanceof AcmeProblem) expect(mapped.detail).toContain("said so");
  });

  it("speaks through the first subproblem of a compound problem", () => {
    const compound = new AcmeProblem(acmeErrorTypes.compound, "several", 403, [
      {
        type: acmeErrorTypes.caa,
        detail: "CAA forbids",
        identifier: { type: "dns", value: "a.example" },
      },
    ]);
    expect(failureFrom(compound)).toMatchObject({
      code: "caa:forbidden",
      detail: expect.stringContaining("CAA forbids"),
    });
  });

  it("recognises a CA that forgot the order or the account", () => {
    expect(isLostResource(problem(acmeErrorTypes.accountDoesNotExist, 400))).toBe(true);
    expect(isLostResource(problem(acmeErrorTypes.malformed, 404, "No order for ID 7"))).toBe(true);
    expect(
      isLostResource(problem(acmeErrorTypes.malformed, 400, "Unable to find authorization")),
    ).toBe(true);
    expect(isLostResource(problem(acmeErrorTypes.caa))).toBe(false);
  });
});

describe("schedules", () => {
  it("renews when a third of the lifetime remains", () => {
    expect(
      renewalTime(new Date("2026-01-01T00:00:00Z"), new Date("2026-04-01T00:00:00Z")).toISOString(),
    ).toBe("2026-03-02T00:00:00.000Z");
  });

  it("never retries earlier than a time the CA gave", () => {
    expect(nextFailureRetry(t0, 1, plus(day))?.toISOString()).toBe(plus(day).toISOString());
    expect(nextFailureRetry(t0, 1, plus(1000))?.toISOString()).toBe(plus(minute).toISOString());
  });
});
