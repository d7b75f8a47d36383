// cloudflare-managed: Cloudflare's custom hostname states read as the lifecycle's outcomes, and a
// whole issuance and renewal driven through the machine against a scripted edge.
import { describe, expect, it } from "vitest";
import { edgeHostnameOf } from "../../src/deploy/cloudflare-managed";
import type { EdgeHostname, ManagedEdge } from "../../src/deploy/deployer";
import type { EligibilityContext } from "../../src/issuance/eligibility";
import { decide, enable } from "../../src/issuance/machine";
import {
  managedPolling,
  performManagedStep,
  renewalLookMs,
} from "../../src/issuance/managed-runner";
import { type CertificateState, initialState, type Outcome } from "../../src/issuance/state";

const t0 = new Date("2026-12-07T12:00:00.000Z");
const domain = "track.shop.test";
const certificate = {
  serial: "0a1b",
  issuer: "Google Trust Services",
  notBefore: "2026-12-07T00:00:00.000Z",
  notAfter: "2027-03-07T00:00:00.000Z",
};
const view = (over: Partial<EdgeHostname>): EdgeHostname => ({
  hostnameStatus: "pending",
  certificateStatus: "initializing",
  stage: "pending",
  problems: [],
  certificate: null,
  ...over,
});
const active = (serial = certificate.serial) =>
  view({
    hostnameStatus: "active",
    certificateStatus: "active",
    stage: "active",
    certificate: { ...certificate, serial },
  });

/** An edge that answers reads from `views` in turn (the last one again), and counts ensures. */
function scriptedEdge(...views: Array<EdgeHostname | null>) {
  let reads = 0;
  let ensures = 0;
  const next = () => views[Math.min(reads++, views.length - 1)] ?? null;
  const edge: ManagedEdge = {
    ensure: async () => {
      ensures++;
      return next() ?? view({});
    },
    read: async () => next(),
  };
  return { edge, ensures: () => ensures };
}

const noCaa = {
  domain,
  endpoints: { v2: "v2.track-endpoint.test", standard: "track-endpoint.test" },
} as unknown as EligibilityContext;
const at = (phase: CertificateState["phase"], over: Partial<CertificateState> = {}) => ({
  ...enable(initialState(domain, "us", t0), t0).state,
  phase,
  ...over,
});
const step = (state: CertificateState, edge: ManagedEdge) =>
  performManagedStep(state, {
    edge,
    eligibility: async () => noCaa,
    now: () => t0,
  });

describe("Cloudflare's statuses, read", () => {
  it.each([
    [{ status: "pending", ssl: { status: "initializing" } }, "pending"],
    [{ status: "pending", ssl: { status: "pending_validation" } }, "pending"],
    [{ status: "active", ssl: { status: "pending_deployment" } }, "pending"],
    [{ status: "active", ssl: { status: "validation_timed_out" } }, "timed_out"],
    [{ status: "pending", ssl: { status: "issuance_timed_out" } }, "timed_out"],
    [{ status: "blocked", ssl: { status: "initializing" } }, "blocked"],
    [{ status: "pending_blocked" }, "blocked"],
    [{ status: "moved", ssl: { status: "active" } }, "moved"],
    // Active without a certificate shown is not yet what we can call active.
    [{ status: "active", ssl: { status: "active" } }, "pending"],
  ])("%j is %s", (hostname, stage) => {
    expect(edgeHostnameOf({ id: "h", ...hostname }).stage).toBe(stage);
  });

  it("takes the certificate from ssl.certificates, its serial as lowercase hex", () => {
    const read = edgeHostnameOf({
      id: "h",
      status: "active",
      ssl: {
        status: "active",
        certificates: [
          {
            issuer: "LetsEncrypt",
            serial_number: "0A:1B",
            issued_on: "2026-12-07T00:00:00Z",
            expires_on: "2027-03-07T00:00:00Z",
          },
        ],
      },
    });
    expect(read).toMatchObject({
      stage: "active",
      certificate: {
        serial: "0a1b",
        issuer: "LetsEncrypt",
        notBefore: "2026-12-07T00:00:00.000Z",
        notAfter: "2027-03-07T00:00:00.000Z",
      },
    });
  });

  it("falls back to ssl's own fields, and to a 90-day lifetime when no issue date is given", () => {
    const read = edgeHostnameOf({
      id: "h",
      status: "active",
      ssl: { status: "active", serial_number: "ff", expires_on: "2027-03-07T00:00:00Z" },
    });
    expect(read.certificate).toEqual({
      serial: "ff",
      issuer: null,
      notBefore: "2026-12-07T00:00:00.000Z",
      notAfter: "2027-03-07T00:00:00.000Z",
    });
    expect(
      edgeHostnameOf({ id: "h", ssl: { serial_number: "ff", expires_on: "soon" } }).certificate,
    ).toBeNull();
  });

  it("gathers the hostname's verification errors and the certificate's validation errors", () => {
    const read = edgeHostnameOf({
      id: "h",
      status: "pending",
      verification_errors: ["custom hostname does not CNAME to this zone."],
      ssl: {
        status: "pending_validation",
        validation_errors: [{ message: "a" }, {}, { message: "b" }],
      },
    });
    expect(read.problems).toEqual(["custom hostname does not CNAME to this zone.", "a", "b"]);
  });
});

describe("the steps of cloudflare-managed", () => {
  it("puts the name on Cloudflare as its order, and waits with growing looks", async () => {
    const { edge, ensures } = scriptedEdge(view({}));
    const ordered = await step(at("order"), edge);
    expect(ordered).toMatchObject({ kind: "ordered", status: "processing" });
    expect(ensures()).toBe(1);
    const first = await step(at("await_certificate", { polls: 0 }), edge);
    const later = await step(at("await_certificate", { polls: 4 }), edge);
    expect(first).toEqual({
      kind: "certificate_pending",
      retryAfter: new Date(t0.getTime() + managedPolling.firstDelayMs).toISOString(),
    });
    expect(later).toEqual({
      kind: "certificate_pending",
      retryAfter: new Date(t0.getTime() + managedPolling.firstDelayMs * 16).toISOString(),
    });
  });

  it("shows Cloudflare's validation errors while waiting, as the customer's to fix", async () => {
    const { edge } = scriptedEdge(
      view({ certificateStatus: "pending_validation", problems: ["no CNAME"] }),
    );
    const outcome = await step(at("await_certificate"), edge);
    expect(outcome).toMatchObject({
      kind: "certificate_pending",
      waiting: { code: "edge:validation", actionBy: "customer" },
    });
    const waiting = outcome.kind === "certificate_pending" ? outcome.waiting : undefined;
    expect(waiting?.detail).toContain("no CNAME");
    // The machine keeps polling, with the error shown and the status still pending.
    const decision = decide(at("await_certificate"), outcome, t0);
    const next = decision.state;
    expect(next).toMatchObject({ phase: "await_certificate", status: "pending" });
    expect(next.error).toMatchObject({ code: "edge:validation", actionBy: "customer" });
    // The history line says it too, with the code.
    expect(decision.event).toMatchObject({ errorCode: "edge:validation" });
    expect(decision.event.reason).toMatch(
      /^the CA is still issuing: Cloudflare cannot validate .*no CNAME/,
    );
    // A look without trouble records no error.
    const quiet = decide(at("await_certificate"), { kind: "certificate_pending" }, t0);
    expect(quiet.event.errorCode).toBeNull();
    expect(quiet.state.error).toBeNull();
  });

  it.each([
    ["blocked", "unavailable", "edge:blocked", "provider"],
    ["moved", "failed", "edge:validation", "customer"],
    ["timed_out", "failed", "edge:validation", "provider"],
  ] as const)("stops on %s: %s, %s, the %s acts", async (stage, severity, code, actionBy) => {
    const { edge } = scriptedEdge(view({ stage }));
    expect(await step(at("await_certificate"), edge)).toMatchObject({
      kind: "failure",
      failure: { severity, code, actionBy },
    });
  });

  it("orders anew when Cloudflare no longer lists the hostname", async () => {
    const { edge } = scriptedEdge(null);
    expect(await step(at("await_certificate"), edge)).toMatchObject({ kind: "order_lost" });
    expect(await step(at("download"), edge)).toMatchObject({ kind: "order_lost" });
  });

  it("calls a Cloudflare outage a failure of the edge, not of the name", async () => {
    const edge: ManagedEdge = {
      ensure: async () => {
        throw new Error("socket hang up");
      },
      read: async () => null,
    };
    const outcome = await step(at("order"), edge);
    expect(outcome.kind).toBe("failure");
  });

  it("goes from ordered to installed with Cloudflare's certificate, then renews when it serves a new one", async () => {
    const { edge } = scriptedEdge(
      view({}),
      view({ certificateStatus: "pending_validation" }),
      active(),
      active(),
      active(),
    );
    let state: CertificateState = at("order");
    const outcomes: Outcome["kind"][] = [];
    for (let i = 0; i < 10 && state.phase !== "installed"; i++) {
      const outcome = await step(state, edge);
      outcomes.push(outcome.kind);
      state = decide(state, outcome, t0).state;
    }
    expect(outcomes).toEqual([
      "ordered",
      "certificate_pending",
      "certificate_ready",
      "downloaded",
      "deployed",
    ]);
    expect(state).toMatchObject({ phase: "installed", status: "valid" });
    expect(state.current).toMatchObject({
      serial: "0a1b",
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      ariId: null,
      nextAriCheckAt: null,
    });

    // The renewal: while Cloudflare serves the same certificate, look again in six hours.
    const renewing = { ...state, phase: "await_certificate" as const };
    const same = await step(renewing, scriptedEdge(active()).edge);
    expect(same).toEqual({
      kind: "certificate_pending",
      retryAfter: new Date(t0.getTime() + renewalLookMs).toISOString(),
    });
    const renewed = await step(renewing, scriptedEdge(active("0c0d")).edge);
    expect(renewed).toMatchObject({ kind: "certificate_ready" });
  });

  it("says in the history what Cloudflare said of the deployed certificate", async () => {
    const outcome = await step(at("deploy"), scriptedEdge(active()).edge);
    expect(outcome).toEqual({
      kind: "deployed",
      edgeStatus: "Cloudflare hostname active, SSL active, issued by Google Trust Services",
    });
  });
});
