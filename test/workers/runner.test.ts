// The step runner (src/issuance/runner.ts) on its own, inside workerd against the test Pebble:
// each step performed as the certificate object performs it, the machine deciding the next, and
// every request the runner sends counted at the CA. What a CA does that the happy path never
// shows is made to happen: a challenge still pending when the runner looks again, a stop that
// loses the record of an answer or of a finalize, a name the CA refuses. The edge is a recording
// double (the deployers have tests of their own); challenges reach Pebble through challtestsrv.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newAccount } from "../../src/acme/account";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import type { DeployInput } from "../../src/deploy/deployer";
import { decide } from "../../src/issuance/machine";
import {
  type CertificateStore,
  performStep,
  type StepContext,
  type StoredCertificate,
} from "../../src/issuance/runner";
import { type CertificateState, initialState, type Outcome } from "../../src/issuance/state";
import { parseKeyRing } from "../../src/pki/key-wrap";

interface Sent {
  method: string;
  url: string;
  status: number;
  /** The problem type of an error answer, without the ACME namespace. */
  problem?: string;
}

/** What a test may change in the CA's answers: given the request and the answer, another one. */
type Tamper = (sent: Omit<Sent, "problem">, response: Response) => Promise<Response> | Response;

/** A store like the object's, in memory; challenges go to challtestsrv before the CA is told. */
class MemoryStore implements CertificateStore {
  challenges = new Map<string, string>();
  published = new Set<string>();
  keys: { id: string; wrapped: string; orderUrl: string }[] = [];
  certificates = new Map<string, StoredCertificate & { wrappedKey: string }>();
  active: string | null = null;
  putChallenge(token: string, keyAuthorization: string) {
    this.challenges.set(token, keyAuthorization);
  }
  clearChallenges() {
    this.challenges.clear();
  }
  keyForOrder(orderUrl: string) {
    return this.keys.find((k) => k.orderUrl === orderUrl) ?? null;
  }
  putKey(key: { id: string; wrapped: string; orderUrl: string }) {
    this.keys.push(key);
  }
  putCertificate(certificate: StoredCertificate) {
    const key = this.keys.find((k) => k.id === certificate.keyId);
    this.certificates.set(certificate.serial, { ...certificate, wrappedKey: key?.wrapped ?? "" });
  }
  certificate(serial: string) {
    return this.certificates.get(serial) ?? null;
  }
  activate(serial: string) {
    this.active = serial;
  }
  open: { url: string | null } | null = null;
  openOrder() {
    return this.open;
  }
  noteOpenOrder(url: string | null) {
    this.open = { url };
  }
  clearOpenOrder() {
    this.open = null;
  }
  /** Makes challtestsrv answer every stored token (what the edge does for the object). */
  async publish(): Promise<void> {
    for (const [token, content] of this.challenges) {
      if (this.published.has(token)) continue;
      const response = await fetch(`${env.TEST_CHALLTESTSRV}/add-http01`, {
        method: "POST",
        body: JSON.stringify({ token, content }),
      });
      if (!response.ok) throw new Error(`challtestsrv: HTTP ${response.status}`);
      this.published.add(token);
    }
  }
}

async function harness(tamper?: Tamper) {
  const sent: Sent[] = [];
  const store = new MemoryStore();
  const recording: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    // The CA is told to look only once the token is there to find (as the object's edge does).
    if (request.method === "POST") await store.publish();
    let response = await fetch(request);
    const entry = { method: request.method, url: request.url, status: response.status };
    if (tamper) response = await tamper(entry, response);
    let problem: string | undefined;
    if (response.status >= 400) {
      const body = (await response.clone().json()) as { type?: string };
      problem = body.type?.replace("urn:ietf:params:acme:error:", "");
    }
    sent.push({ ...entry, status: response.status, ...(problem ? { problem } : {}) });
    return response;
  };
  const client = new AcmeClient({ directoryUrl: env.TEST_PEBBLE_DIRECTORY, fetch: recording });
  const key = await generateAccountKey();
  const account = await newAccount(client, key, { termsOfServiceAgreed: true });
  const signer = { key, accountUrl: account.url };
  const deployed: Omit<DeployInput, "privateKeyPem">[] = [];
  let admissions = 0;
  const context: StepContext = {
    acme: async () => ({ client, signer }),
    refreshAccount: async () => {},
    eligibility: async () => {
      throw new Error("these tests start after the eligibility check");
    },
    keyRing: () => parseKeyRing(env.KEY_ENCRYPTION_KEYS),
    store,
    deployer: () => ({
      route: async () => {},
      deploy: async ({ privateKeyPem: _, ...input }) => {
        deployed.push(input);
        return { edgeStatus: `the test's edge holds ${input.serial}` };
      },
      remove: async () => {},
    }),
    admitNewOrder: async () => {
      admissions++;
      return { admitted: true };
    },
  };
  const directory = await client.directory();
  /** The requests that reached the CA and were not refused for their nonce (re-signed then). */
  const accepted = (match: (s: Sent) => boolean) =>
    sent.filter((s) => s.method === "POST" && s.problem !== "badNonce" && match(s));
  return {
    context,
    store,
    sent,
    deployed,
    /** Every outcome untilInstalled saw, in order. */
    outcomes: [] as Outcome[],
    admissions: () => admissions,
    orders: () => accepted((s) => s.url === directory.newOrder && s.status === 201).length,
    answers: () => accepted((s) => s.url.includes("/chalZ/") || s.url.includes("/chal/")),
    finalizes: () => accepted((s) => s.url.includes("/finalize-order/")),
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

const uniqueName = () => `r${crypto.randomUUID().slice(0, 8)}.runner.${env.TEST_DYNAMIC_ZONE}`;

/** A managed domain whose eligibility passed: the next step places the order. */
function atOrder(domain: string): CertificateState {
  return {
    ...initialState(domain, "us", new Date()),
    enabled: true,
    phase: "order",
    status: "pending",
    nextRunAt: new Date().toISOString(),
  };
}

/** One step as the object performs it: the runner's outcome, then the machine's decision. */
async function step(h: Harness, state: CertificateState) {
  const outcome = await performStep(state, h.context);
  return { outcome, state: decide(state, outcome, new Date()).state };
}

/** Steps until the certificate is installed (waiting between polls), or fails the test. */
async function untilInstalled(h: Harness, start: CertificateState): Promise<CertificateState> {
  let state = start;
  const outcomes: Outcome["kind"][] = [];
  for (let i = 0; i < 60 && state.phase !== "installed"; i++) {
    const next = await step(h, state);
    outcomes.push(next.outcome.kind);
    h.outcomes.push(next.outcome);
    if (next.outcome.kind === "failure")
      throw new Error(`step ${state.phase} failed: ${next.outcome.failure.detail}`);
    state = next.state;
    if (state.polls > 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(state.phase, outcomes.join(" → ")).toBe("installed");
  return state;
}

describe("the step runner against a CA", () => {
  it("takes a domain from its order to a deployed certificate: one order, one answer, one finalize", async () => {
    const h = await harness();
    const domain = uniqueName();
    const installed = await untilInstalled(h, atOrder(domain));
    expect(h.orders()).toBe(1);
    expect(h.answers()).toHaveLength(1);
    expect(h.finalizes()).toHaveLength(1);
    expect(h.admissions()).toBe(1);
    expect(h.deployed.map((d) => d.domain)).toEqual([domain]);
    expect(h.store.active).toBe(installed.current?.serial);
    // What the edge said is what the lifecycle records.
    expect(h.outcomes.at(-1)).toEqual({
      kind: "deployed",
      edgeStatus: `the test's edge holds ${installed.current?.serial}`,
    });
    // Kept only wrapped: the stored key is not a PKCS#8 private key in the clear.
    expect(h.store.keys[0]?.wrapped).not.toContain("PRIVATE KEY");
    expect(h.store.challenges.size).toBe(0);
  });

  it("does not answer a challenge again while the CA has not picked it up yet", async () => {
    // After the answer, the first look at the authorization finds it still pending, as happens
    // when the CA's validator is slower than our poll.
    let stale = 0;
    const h = await harness(async (sent, response) => {
      if (sent.url.includes("/authZ/") && response.status === 200 && stale === 0) {
        const authorization = (await response.clone().json()) as {
          status: string;
          challenges: { status: string }[];
        };
        const answered = h.answers().length > 0;
        if (answered && authorization.status !== "pending") {
          stale++;
          authorization.status = "pending";
          for (const challenge of authorization.challenges) challenge.status = "pending";
          return new Response(JSON.stringify(authorization), response);
        }
      }
      return response;
    });
    const installed = await untilInstalled(h, atOrder(uniqueName()));
    expect(stale).toBe(1);
    expect(h.answers()).toHaveLength(1);
    expect(h.orders()).toBe(1);
    expect(installed.current).not.toBeNull();
  });

  it("carries on when a stop lost the record of its answer: answers, is refused, reads, goes on", async () => {
    // The read before the repeated answer still says pending (the CA's view a moment ago).
    let staleRead = false;
    const h = await harness(async (sent, response) => {
      if (staleRead && sent.url.includes("/authZ/") && response.status === 200) {
        staleRead = false;
        const authorization = (await response.clone().json()) as {
          status: string;
          challenges: { status: string }[];
        };
        authorization.status = "pending";
        for (const challenge of authorization.challenges) challenge.status = "pending";
        return new Response(JSON.stringify(authorization), response);
      }
      return response;
    });
    const ordered = await step(h, atOrder(uniqueName()));
    expect(ordered.state.phase).toBe("authorize");
    const answered = await step(h, ordered.state);
    expect(answered.state.phase).toBe("await_authorization");
    // Let the CA validate, then run the authorize step again from the state before it, as an
    // object that stopped before its write would.
    await new Promise((resolve) => setTimeout(resolve, 500));
    staleRead = true;
    const again = await step(h, ordered.state);
    expect(again.outcome.kind).toBe("authorization_pending");
    // The second answer found the challenge moved on (Pebble refuses it as malformed), and the
    // authorization read after it decided.
    expect(h.answers().map((s) => s.problem ?? s.status)).toEqual([200, "malformed"]);
    const installed = await untilInstalled(h, again.state);
    expect(h.orders()).toBe(1);
    expect(installed.current).not.toBeNull();
  });

  it("carries on when a stop lost the record of its finalize: finalizes, is refused, reads the order", async () => {
    let staleOrder = false;
    const h = await harness(async (sent, response) => {
      // The order read before the repeated finalize still says ready, as a replica might.
      if (staleOrder && sent.url.includes("/my-order/") && response.status === 200) {
        staleOrder = false;
        const order = (await response.clone().json()) as { status: string };
        order.status = "ready";
        return new Response(JSON.stringify(order), response);
      }
      return response;
    });
    let state = atOrder(uniqueName());
    while (state.phase !== "finalize") {
      state = (await step(h, state)).state;
      if (state.polls > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const beforeFinalize = state;
    const finalized = await step(h, beforeFinalize);
    expect(finalized.outcome.kind).toBe("finalized");
    staleOrder = true;
    const again = await step(h, beforeFinalize);
    expect(again.outcome.kind).toBe("finalized");
    expect(h.finalizes().filter((s) => s.status >= 400)).toHaveLength(1);
    await untilInstalled(h, again.state);
    expect(h.orders()).toBe(1);
    // The same key served both finalize attempts: one key for the order.
    expect(h.store.keys).toHaveLength(1);
  });

  it("reports a name the CA refuses as unavailable, without deploying anything", async () => {
    const h = await harness();
    const refused = await step(h, atOrder(env.TEST_PEBBLE_BLOCKED_NAME));
    expect(refused.outcome).toMatchObject({
      kind: "failure",
      failure: { severity: "unavailable", code: "acme:rejected_identifier" },
    });
    expect(refused.state).toMatchObject({ phase: "idle", status: "unavailable" });
    expect(h.deployed).toEqual([]);
  });
});
