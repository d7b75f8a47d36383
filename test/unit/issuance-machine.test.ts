// The certificate lifecycle as pure transitions: the happy path, every kind of failure, the retry
// schedule and its limits, renewal while a certificate serves, expiry, and "stuck".
import { describe, expect, it } from "vitest";
import { AcmeNetworkError, AcmeProblem, acmeErrorTypes } from "../../src/acme/problem";
import { ConfigError } from "../../src/config";
import { DeployError } from "../../src/deploy/deployer";
import { failureFrom, isLostResource, notEntitledRetryMs } from "../../src/issuance/failures";
import {
  alarmAt,
  decide,
  disable,
  enable,
  installedDue,
  isStuck,
  publicStatus,
  refreshStatus,
  startRenewal,
} from "../../src/issuance/machine";
import { nextRenewalInfoCheck, pointInWindow, renewalTime } from "../../src/issuance/renewal";
import {
  failureSchedule,
  nextFailureRetry,
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
  spread: 0,
  ariId: "aki.0a",
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
    // The CA is asked for its suggested window right away (the next step); no window: this.
    expect(installed.nextRunAt).toBe(t0.toISOString());
  });

  it("deploys again the certificate the edge refused, instead of ordering a new one", () => {
    const atDeploy = run(enabled(), ...happyPath.slice(0, -1));
    expect(atDeploy.phase).toBe("deploy");
    // Quick retries while the edge is down: still pending, the error shown.
    const down = run(
      atDeploy,
      failure("transient", { code: "deploy:unavailable", actionBy: "provider" }),
    );
    expect(down).toMatchObject({ phase: "deploy", status: "pending", stepRetries: 1 });
    expect(down.error?.code).toBe("deploy:unavailable");
    // A refusal: failed, with the same certificate waiting to be deployed at the next attempt.
    const refused = decide(
      atDeploy,
      failure("failed", { code: "deploy:rejected", actionBy: "provider" }),
      t0,
    ).state;
    expect(refused).toMatchObject({ phase: "deploy", status: "failed", failures: 1 });
    expect(refused.candidate?.serial).toBe("0a");
    expect(refused.nextRunAt).toBe(plus(failureSchedule[0] as number).toISOString());
    expect(decide(refused, { kind: "deployed" }, t0).state).toMatchObject({
      phase: "installed",
      status: "valid",
      error: null,
    });
  });

  it("orders anew when the refused certificate would not outlive the wait", () => {
    const shortLived = { ...certificate, notAfter: plus(10 * minute).toISOString() };
    const atDeploy = run(enabled(), ...happyPath.slice(0, 6), {
      kind: "downloaded",
      certificate: shortLived,
    });
    const refused = decide(atDeploy, failure("failed", { code: "deploy:rejected" }), t0).state;
    expect(refused).toMatchObject({ phase: "check", candidate: null });
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
    const deployed = decide(downloaded, { kind: "deployed" }, t0);
    expect(deployed.state).toMatchObject({ current: { serial: "0b" }, candidate: null });
    expect(deployed.event.reason).toBe(
      `certificate 0b deployed; valid until ${certificate.notAfter}`,
    );
    // What the edge said about it, when it said something.
    const withEdge = decide(
      downloaded,
      { kind: "deployed", edgeStatus: "SSL pending_deployment" },
      t0,
    );
    expect(withEdge.event.reason).toBe(
      `certificate 0b deployed; valid until ${certificate.notAfter} (edge: SSL pending_deployment)`,
    );
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
  it("keeps a deployer's code, its Retry-After, and says the certificate was issued", () => {
    const until = plus(5 * minute);
    expect(failureFrom(new DeployError("deploy:rate_limited", "HTTP 429", until))).toMatchObject({
      severity: "rate_limited",
      code: "deploy:rate_limited",
      actionBy: "provider",
      retryAt: until.toISOString(),
    });
    const down = failureFrom(new DeployError("deploy:unavailable", "HTTP 503"));
    expect(down).toMatchObject({ severity: "transient", code: "deploy:unavailable" });
    expect(down.detail).toContain("issued but the TLS edge did not take it: HTTP 503");
    expect(failureFrom(new DeployError("deploy:unauthorized", "HTTP 403")).severity).toBe("failed");
  });

  it("asks a plan without the deploy mode's feature again a day later, naming the fix", () => {
    const before = Date.now();
    const failure = failureFrom(
      new DeployError("deploy:not_entitled", "HTTP 403 (Enterprise only)"),
    );
    expect(failure).toMatchObject({
      severity: "failed",
      code: "deploy:not_entitled",
      actionBy: "provider",
    });
    expect(failure.detail).toMatch(
      /Enterprise only\)\. Fix: .*CERTIFICATE_DEPLOYER.*docs\/deploy\.md/,
    );
    const retryAt = Date.parse(failure.retryAt ?? "");
    expect(retryAt - before).toBeGreaterThanOrEqual(notEntitledRetryMs);
    // The lifecycle waits for it, although the schedule's first retry would be a minute away.
    const now = new Date(before);
    const atDeploy = run(enabled(), ...happyPath.slice(0, 7));
    const next = decide(atDeploy, { kind: "failure", failure }, now).state;
    expect(Date.parse(next.nextRunAt ?? "")).toBeGreaterThanOrEqual(retryAt);
  });

  it("names the misconfiguration, not a secret", () => {
    const failure = failureFrom(new ConfigError("invalid configuration: needs CLOUDFLARE_ZONE_ID"));
    expect(failure).toMatchObject({
      severity: "failed",
      code: "service:internal",
      actionBy: "provider",
    });
    expect(failure.detail).toContain("CLOUDFLARE_ZONE_ID");
  });

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

describe("renewal time", () => {
  const lifetime = {
    notBefore: "2026-01-01T00:00:00.000Z",
    notAfter: "2026-04-01T00:00:00.000Z",
    spread: 0,
  };
  const window = (start: string, end: string, selected: string) => ({
    windowStart: start,
    windowEnd: end,
    selected,
  });
  it.each([
    [
      "without a window: when a third of the lifetime remains",
      null,
      "2026-01-10T00:00:00Z",
      "2026-03-02T00:00:00.000Z",
    ],
    [
      "with a window: the point chosen in it",
      window("2026-02-01T00:00:00Z", "2026-02-03T00:00:00Z", "2026-02-02T06:00:00.000Z"),
      "2026-01-10T00:00:00Z",
      "2026-02-02T06:00:00.000Z",
    ],
    [
      "with a window in the past: now",
      window("2025-12-01T00:00:00Z", "2025-12-02T00:00:00Z", "2025-12-01T12:00:00.000Z"),
      "2026-01-10T00:00:00Z",
      "2026-01-10T00:00:00.000Z",
    ],
    [
      "with a window later than the validity allows: a twentieth before the end",
      window("2026-03-31T00:00:00Z", "2026-04-02T00:00:00Z", "2026-04-01T00:00:00.000Z"),
      "2026-01-10T00:00:00Z",
      "2026-03-27T12:00:00.000Z",
    ],
    [
      "with less than a twentieth left: now, window or not",
      window("2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z", "2026-05-01T00:00:00.000Z"),
      "2026-03-28T00:00:00Z",
      "2026-03-28T00:00:00.000Z",
    ],
  ] as const)("%s", (_, ari, now, expected) => {
    expect(renewalTime(lifetime, ari, new Date(now)).toISOString()).toBe(expected);
  });

  it("picks a point inside the window, anywhere in it", () => {
    expect(pointInWindow("2026-02-01T00:00:00.000Z", "2026-02-03T00:00:00.000Z", 0)).toBe(
      "2026-02-01T00:00:00.000Z",
    );
    expect(pointInWindow("2026-02-01T00:00:00.000Z", "2026-02-03T00:00:00.000Z", 0.5)).toBe(
      "2026-02-02T00:00:00.000Z",
    );
    expect(pointInWindow("2026-02-01T00:00:00.000Z", "2026-02-03T00:00:00.000Z", 0.999999)).toMatch(
      /^2026-02-02T23:59:59/,
    );
  });

  it("asks for the window again as the CA says, within once a minute and twice a day", () => {
    expect(nextRenewalInfoCheck(t0, plus(6 * 60 * minute)).toISOString()).toBe(
      plus(6 * 60 * minute).toISOString(),
    );
    expect(nextRenewalInfoCheck(t0, plus(5000)).toISOString()).toBe(plus(minute).toISOString());
    expect(nextRenewalInfoCheck(t0, plus(3 * day)).toISOString()).toBe(
      plus(12 * 60 * minute).toISOString(),
    );
    expect(nextRenewalInfoCheck(t0, undefined).toISOString()).toBe(
      plus(12 * 60 * minute).toISOString(),
    );
  });
});

describe("renewal information in the lifecycle", () => {
  const installed = () => run(enabled(), ...happyPath);
  const info = (selected: string, retryAfter?: string): Outcome => ({
    kind: "renewal_info",
    windowStart: "2027-01-01T00:00:00.000Z",
    windowEnd: "2027-01-03T00:00:00.000Z",
    selected,
    explanationUrl: "https://ca.example/why",
    ...(retryAfter ? { retryAfter } : {}),
  });

  it("asks the CA for its window as soon as a certificate is installed", () => {
    expect(installed().current?.nextAriCheckAt).toBe(t0.toISOString());
    expect(installedDue(installed(), t0)).toBe("renewal_info");
  });

  it("renews at the chosen point in the window and keeps the explanation URL", () => {
    const state = decide(
      installed(),
      info("2027-01-02T03:00:00.000Z", plus(6 * 60 * minute).toISOString()),
      t0,
    ).state;
    expect(state.current).toMatchObject({
      renewsAt: "2027-01-02T03:00:00.000Z",
      ari: { explanationUrl: "https://ca.example/why", selected: "2027-01-02T03:00:00.000Z" },
      nextAriCheckAt: plus(6 * 60 * minute).toISOString(),
    });
    // The next wake is the earlier of the two: another look at the window.
    expect(state.nextRunAt).toBe(plus(6 * 60 * minute).toISOString());
    expect(installedDue(state, new Date("2027-01-02T03:00:00.000Z"))).toBe("renew");
  });

  it("falls back to the lifetime rule when the CA offers no window, and stops asking", () => {
    const state = decide(
      installed(),
      { kind: "renewal_info_unavailable", permanent: true },
      t0,
    ).state;
    expect(state.current).toMatchObject({
      nextAriCheckAt: null,
      renewsAt: "2027-01-25T12:00:00.000Z",
    });
    expect(state.nextRunAt).toBe("2027-01-25T12:00:00.000Z");
  });

  it("asks again later when the CA has no window for now", () => {
    const later = plus(60 * minute).toISOString();
    const state = decide(
      installed(),
      { kind: "renewal_info_unavailable", permanent: false, retryAfter: later },
      t0,
    ).state;
    expect(state.current?.nextAriCheckAt).toBe(later);
    expect(state.nextRunAt).toBe(later);
  });

  it("starts a renewal from the checks, still valid, naming the certificate it replaces", () => {
    const renewing = startRenewal(installed(), t0);
    expect(renewing.state).toMatchObject({
      phase: "check",
      status: "valid",
      current: { serial: "0a" },
    });
    expect(renewing.event.reason).toContain("renewal due");
    const ordered = decide(
      run(renewing.state, { kind: "eligible" }),
      { kind: "ordered", order, status: "pending", replaces: "aki.0a" },
      t0,
    );
    expect(ordered.event.reason).toBe("renewal order placed (replaces aki.0a)");
  });
});

describe("expiry and alarms", () => {
  const installed = () => run(enabled(), ...happyPath);

  it("turns a serving certificate expired on time, with the last error", () => {
    const failing = decide(startRenewal(installed(), t0).state, failure("failed"), t0).state;
    expect(refreshStatus(failing, new Date(certificate.notAfter))).toBeNull();
    const expired = refreshStatus(failing, new Date(Date.parse(certificate.notAfter) + 1));
    expect(expired?.state.status).toBe("expired");
    expect(expired?.event.reason).toContain("expired");
    expect(expired?.event.reason).toContain("no");
  });

  it("wakes for the next step, or for the expiry when that comes first", () => {
    expect(alarmAt(installed())).toBe(installed().nextRunAt);
    const idle = { ...installed(), phase: "idle" as const, nextRunAt: null };
    expect(alarmAt(idle)).toBe(new Date(Date.parse(certificate.notAfter) + 1000).toISOString());
    expect(alarmAt(disable(installed(), t0).state)).toBeNull();
  });

  it("never gives up renewing a certificate, and keeps its waits short for a short one", () => {
    // A certificate of two minutes: waits of at most six seconds, and no end to the attempts.
    const short = {
      ...installed(),
      current: {
        ...(installed().current as NonNullable<CertificateState["current"]>),
        notBefore: t0.toISOString(),
        notAfter: plus(2 * minute).toISOString(),
      },
    };
    let state = startRenewal(short, t0).state;
    for (let i = 0; i < 15; i++)
      state = decide({ ...state, phase: "check" }, failure("failed"), t0).state;
    expect(state).toMatchObject({ phase: "check", failures: 15 });
    expect(Date.parse(state.nextRunAt ?? "") - t0.getTime()).toBe(6000);
  });
});

describe("schedules", () => {
  it("never retries earlier than a time the CA gave", () => {
    expect(nextFailureRetry(t0, 1, plus(day))?.toISOString()).toBe(plus(day).toISOString());
    expect(nextFailureRetry(t0, 1, plus(1000))?.toISOString()).toBe(plus(minute).toISOString());
  });
});

describe("the history a user reads", () => {
  /** Each outcome's decision in turn, from `start`. */
  const trail = (start: CertificateState, ...outcomes: Outcome[]) => {
    let state = start;
    return outcomes.map((outcome) => {
      const decision = decide(state, outcome, t0);
      state = decision.state;
      return decision;
    });
  };
  const installed = () => run(enabled(), ...happyPath);

  it("says what each step of an issuance did, from which phase to which", () => {
    const enabling = enable(initialState("track.example.com", "us", t0), t0);
    const steps = trail(
      enabling.state,
      { kind: "eligible" },
      { kind: "ordered", order, status: "pending" },
      { kind: "authorization_pending" },
      { kind: "authorization_pending" },
      { kind: "authorized" },
      { kind: "finalized", status: "processing" },
      { kind: "certificate_pending" },
      { kind: "certificate_ready", certificate: "https://ca/cert/1" },
      { kind: "downloaded", certificate },
      { kind: "deployed" },
    );
    expect([enabling, ...steps].map(({ event }) => [event.from, event.to, event.reason])).toEqual([
      ["idle", "check", "managed HTTPS enabled: checking eligibility"],
      ["check", "order", "eligible: placing an order"],
      ["order", "authorize", "order placed"],
      ["authorize", "await_authorization", "challenge answered; waiting for the CA to validate"],
      ["await_authorization", "await_authorization", "the CA is still validating"],
      ["await_authorization", "finalize", "domain validated"],
      ["finalize", "await_certificate", "order finalized; waiting for the certificate"],
      ["await_certificate", "await_certificate", "the CA is still issuing"],
      ["await_certificate", "download", "certificate issued"],
      ["download", "deploy", "certificate 0a downloaded"],
      ["deploy", "installed", `certificate 0a deployed; valid until ${certificate.notAfter}`],
    ]);
    expect(steps.every(({ event }) => event.errorCode === null)).toBe(true);
    // The certificate's URL is kept on the order it belongs to.
    expect(steps[7]?.state.order).toEqual({ ...order, certificate: "https://ca/cert/1" });
    expect(disable(installed(), t0).event.reason).toBe("managed HTTPS disabled");
  });

  it("skips ahead with the order's status, saying so", () => {
    const atOrder = run(enabled(), { kind: "eligible" });
    const reasons = (["ready", "processing", "valid"] as const).map(
      (status) => decide(atOrder, { kind: "ordered", order, status }, t0).event.reason,
    );
    expect(reasons).toEqual([
      "order placed; already authorized",
      "order placed; already finalized",
      "order placed; already finalized",
    ]);
    const atFinalize = run(atOrder, { kind: "ordered", order, status: "ready" });
    const issued = decide(
      atFinalize,
      { kind: "finalized", status: "valid", certificate: "https://ca/cert/2" },
      t0,
    );
    expect(issued.state.phase).toBe("download");
    expect(issued.state.order).toEqual({ ...order, certificate: "https://ca/cert/2" });
    expect(issued.event.reason).toBe("certificate issued");
    // Valid but without the certificate's URL: wait for it, as for processing.
    const noUrl = decide(atFinalize, { kind: "finalized", status: "valid" }, t0);
    expect(noUrl.state.phase).toBe("await_certificate");
  });

  it("shows a deploy step with nothing to deploy as our own error, retried", () => {
    const lost = { ...run(enabled(), ...happyPath.slice(0, 7)), candidate: null };
    const decision = decide(lost, { kind: "deployed" }, t0);
    expect(decision.state).toMatchObject({
      phase: "deploy",
      stepRetries: 1,
      error: { code: "service:internal", detail: "Nothing to deploy.", actionBy: "provider" },
    });
    expect(decision.event).toMatchObject({
      reason: "Nothing to deploy. Retrying this step.",
      errorCode: "service:internal",
    });
  });

  it("defers an order without counting a failure, saying who waits", () => {
    const atOrder = run(enabled(), { kind: "eligible" });
    const until = plus(5 * minute).toISOString();
    const decision = decide(
      atOrder,
      { kind: "order_deferred", until, detail: "The account's new orders are paced." },
      t0,
    );
    expect(decision.state).toMatchObject({
      phase: "order",
      status: "pending",
      nextRunAt: until,
      failures: 0,
      error: {
        code: "limit:new_orders",
        detail: "The account's new orders are paced.",
        actionBy: "provider",
        at: t0.toISOString(),
      },
    });
    expect(decision.event.reason).toBe("The account's new orders are paced.");
  });

  it("says a lost order is placed anew, and gives up after its bound as the CA's trouble", () => {
    const atAuthorize = run(enabled(), ...happyPath.slice(0, 2));
    const lost: Outcome = { kind: "order_lost", detail: "The CA forgot the order" };
    expect(decide(atAuthorize, lost, t0).event.reason).toBe(
      "The CA forgot the order; placing a new order",
    );
    let state = atAuthorize;
    for (let i = 0; i < 20 && state.phase !== "check" && state.phase !== "idle"; i++)
      state = decide({ ...state, phase: "authorize" }, lost, t0).state;
    expect(state.error).toMatchObject({
      code: "acme:temporary",
      actionBy: "provider",
      detail: "The CA forgot the order",
    });
    expect(state.failures).toBe(1);
  });

  it("says when the next attempt is, or that there is none, with the failure's code", () => {
    const failed = decide(enabled(), failure("failed"), t0);
    expect(failed.event.reason).toMatch(/^no Next attempt at \d{4}-\d\d-\d\dT[\d:.]+Z\.$/);
    expect(failed.event.errorCode).toBe("caa:forbidden");
    let state = enabled();
    for (let i = 0; i < 30 && (i === 0 || state.nextRunAt !== null); i++)
      state = decide({ ...state, phase: "check" }, failure("failed"), t0).state;
    const last = decide({ ...state, phase: "check" }, failure("failed"), t0);
    expect(last.event.reason).toBe("no No more automatic attempts.");
    expect(last.state.phase).toBe("idle");
  });

  it("stops redeploying once automatic attempts have run out", () => {
    let state = run(enabled(), ...happyPath.slice(0, 7));
    for (let i = 0; i < 30 && state.nextRunAt !== null; i++)
      state = decide(state, failure("failed", { code: "deploy:rejected" }), t0).state;
    expect(state).toMatchObject({ phase: "idle", nextRunAt: null, candidate: null });
  });

  it("says whether the CA's window moved", () => {
    const info: Outcome = {
      kind: "renewal_info",
      windowStart: "2027-01-01T00:00:00.000Z",
      windowEnd: "2027-01-03T00:00:00.000Z",
      selected: "2027-01-02T00:00:00.000Z",
      explanationUrl: null,
    };
    const [first, again] = trail(installed(), info, info);
    expect(first?.event.reason).toBe(
      "the CA suggests renewing between 2027-01-01T00:00:00.000Z and 2027-01-03T00:00:00.000Z; renewing at 2027-01-02T00:00:00.000Z",
    );
    expect(again?.event.reason).toBe("the CA's suggested renewal window is unchanged");
    const permanent = decide(
      installed(),
      { kind: "renewal_info_unavailable", permanent: true },
      t0,
    );
    expect(permanent.event.reason).toBe(
      "the CA offers no renewal information; renewing when a third of the lifetime remains",
    );
    const notNow = decide(installed(), { kind: "renewal_info_unavailable", permanent: false }, t0);
    expect(notNow.event.reason).toBe(
      "no renewal information from the CA this time; asking again later",
    );
    // Without a certificate, the answer changes nothing.
    const none = decide(enabled(), info, t0);
    expect(none.state).toEqual(enabled());
    expect(none.event.reason).toBe("renewal information without a certificate: ignored");
  });

  it("renews at renewsAt when the next look at the window would come after it", () => {
    const atDeploy = run(enabled(), ...happyPath.slice(0, 7));
    const candidate = atDeploy.candidate as NonNullable<CertificateState["candidate"]>;
    const lateLook = {
      ...atDeploy,
      candidate: { ...candidate, nextAriCheckAt: "2027-02-01T00:00:00.000Z" },
    };
    const state = decide(lateLook, { kind: "deployed" }, t0).state;
    expect(state.nextRunAt).toBe(candidate.renewsAt);
    const earlyLook = {
      ...atDeploy,
      candidate: { ...candidate, nextAriCheckAt: plus(day).toISOString() },
    };
    expect(decide(earlyLook, { kind: "deployed" }, t0).state.nextRunAt).toBe(
      plus(day).toISOString(),
    );
  });

  it("names the expired certificate, with the last error when there is one", () => {
    const after = new Date(Date.parse(certificate.notAfter) + 1);
    expect(refreshStatus(installed(), after)?.event.reason).toBe("certificate 0a expired.");
    const failing = decide(startRenewal(installed(), t0).state, failure("failed"), t0).state;
    expect(refreshStatus(failing, after)?.event.reason).toBe(
      "certificate 0a expired. Last error: no",
    );
  });
});

describe("what is due", () => {
  const installed = () => run(enabled(), ...happyPath);
  const current = () => installed().current as NonNullable<CertificateState["current"]>;

  it("is nothing before a certificate is installed, or while nothing is due", () => {
    expect(installedDue(run(enabled(), ...happyPath.slice(0, 7)), plus(365 * day))).toBe("nothing");
    expect(installedDue({ ...installed(), current: null }, plus(365 * day))).toBe("nothing");
    const noAri = { ...installed(), current: { ...current(), nextAriCheckAt: null } };
    expect(installedDue(noAri, t0)).toBe("nothing");
    const later = {
      ...installed(),
      current: { ...current(), nextAriCheckAt: plus(day).toISOString() },
    };
    expect(installedDue(later, t0)).toBe("nothing");
    expect(installedDue(later, plus(day))).toBe("renewal_info");
  });

  it("wakes at the expiry when it comes before the next step, and not for an expired one", () => {
    const soon = { ...installed(), nextRunAt: "2027-06-01T00:00:00.000Z" };
    expect(alarmAt(soon)).toBe(new Date(Date.parse(certificate.notAfter) + 1000).toISOString());
    const expired = { ...soon, status: "expired" as const };
    expect(alarmAt(expired)).toBe("2027-06-01T00:00:00.000Z");
  });

  it("shows managed HTTPS off as unknown, whatever certificate is held", () => {
    expect(publicStatus({ enabled: false, current: current() }, t0, "valid")).toBe("unknown");
  });

  it("is not stuck when idle or valid, however long ago the last progress", () => {
    const long = plus(365 * day);
    expect(isStuck({ status: "pending", phase: "idle", progressAt: t0.toISOString() }, long)).toBe(
      false,
    );
    expect(isStuck({ status: "valid", phase: "check", progressAt: t0.toISOString() }, long)).toBe(
      false,
    );
    expect(isStuck({ status: "pending", phase: "check", progressAt: t0.toISOString() }, long)).toBe(
      true,
    );
  });
});
