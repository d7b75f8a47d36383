// The certificate lifecycle against a model (fast-check's model-based commands): a domain is
// created, verified, switched on and off, deleted and re-created through the API, while its
// object's alarms run as the runtime runs them (and the Cron sweep pokes it), the CA answers
// with trouble (badNonce, rateLimited with Retry-After, 5xx, a lost connection, an invalid order,
// a CAA refusal, a repeated request refused because the resource moved on, a slow answer), the
// object stops at a storage write and comes back from storage, and its D1 mirror fails. Once the sequence settles (the trouble gone
// and the customer verifying again, as a user would), the invariants must hold:
// - every domain that exists with managed HTTPS and a verified name ends valid, with the D1 row
//   showing the object's state;
// - a domain switched off or deleted before its first certificate was deployed serves none, and
//   no challenge token of its stays answerable;
// - no name ever had two live orders at the CA at once (orders never run side by side);
// - no private key leaves the object (views and D1 rows carry none).
// CI runs a fixed number of seeded sequences; `npm run test:soak` runs as many as fit a time,
// printing the seed and the shrunk sequence of any failure, which replays it exactly:
// LIFECYCLE_REPLAY="<seed>:<path>/<replayPath>" npm test -- --project workers
// test/workers/lifecycle-model.test.ts (the seed and path fast-check prints, and the replayPath
// in the counterexample's comment).
import { abortAllDurableObjects, env } from "cloudflare:test";
import fc from "fast-check";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { domainCertificateStub } from "../../durable-objects/stubs";
import { newAccount, type TestAccount } from "./helpers";
import {
  type AcmeKind,
  breakMirror,
  CaWire,
  type Fault,
  mirrored,
  problem,
  restart,
  settle,
  stopAt,
  storedChallenges,
} from "./lifecycle-harness";

interface Model {
  exists: boolean;
  managed: boolean;
  verified: boolean;
  /** Managed HTTPS was switched off (or the domain deleted) and no certificate was ever deployed. */
  offBeforeFirstCertificate: boolean;
}

interface Real {
  account: TestAccount;
  domain: string;
  wire: CaWire;
  /** Whether the object is set to stop (and whether it has). */
  stop: { stopped: () => boolean; cancel: () => void } | null;
  /** Mirrors broken during the sequence, to repair when it heals. */
  brokenMirrors: { repair: () => void }[];
  log: string[];
  startedAt: string;
}

const stub = (real: Real) => domainCertificateStub(env, real.domain, "us");

/** After any command: an object that stopped comes back from storage. */
async function recover(real: Real): Promise<void> {
  if (real.stop?.stopped()) {
    real.log.push("  (the object stopped; restarted from storage)");
    await restart(real.domain);
    real.stop = null;
  }
}

const ok = (status: number, what: string, allowed: number[]) => {
  // A DNS check over the account's limit is a refusal the model treats as nothing happening.
  if (status === 429) return false;
  expect(allowed, what).toContain(status);
  return status < 300;
};

/**
 * A call as a user makes it: when the object it reached was down (503, "try again"), once more
 * after it is back.
 */
async function call(r: Real, method: string, path: string, body?: unknown): Promise<number> {
  const send = async () =>
    (await r.account.call(method, path, body === undefined ? {} : { body })).status;
  const status = await send();
  if (status !== 503) return status;
  r.log.push("  (503: the object was down; the user tries again)");
  await recover(r);
  return send();
}

class Create implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => !m.exists;
  async run(m: Model, r: Real) {
    const status = await call(r, "POST", "/tracking-domains", {
      domain: r.domain,
      https_mode: "managed",
    });
    if (ok(status, "create", [200])) {
      Object.assign(m, { exists: true, managed: true, verified: false });
    }
  }
  toString = () => "create";
}

class Verify implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.exists;
  async run(m: Model, r: Real) {
    const status = await call(r, "POST", `/tracking-domains/${r.domain}/verify`);
    if (ok(status, "verify", [200])) m.verified = true;
    await recover(r);
  }
  toString = () => "verify";
}

class Mode implements fc.AsyncCommand<Model, Real> {
  constructor(readonly managed: boolean) {}
  check = (m: Readonly<Model>) => m.exists;
  async run(m: Model, r: Real) {
    const status = await call(r, "PUT", `/tracking-domains/${r.domain}`, {
      https_mode: this.managed ? "managed" : "none",
    });
    // Switching a verified domain to managed checks eligibility now: refused while DNS is odd.
    if (ok(status, `https ${this.managed}`, [200, 422])) {
      if (!this.managed && m.managed && !(await everDeployed(r)))
        m.offBeforeFirstCertificate = true;
      m.managed = this.managed;
    }
    await recover(r);
  }
  toString = () => `https ${this.managed ? "on" : "off"}`;
}

class Delete implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.exists;
  async run(m: Model, r: Real) {
    const status = await call(r, "DELETE", `/tracking-domains/${r.domain}`);
    if (ok(status, "delete", [204])) {
      Object.assign(m, { exists: false, managed: false, verified: false });
      m.offBeforeFirstCertificate = true;
    }
    await recover(r);
  }
  toString = () => "delete";
}

/** The Cron sweep's poke: an object with something due (or a lost alarm) runs now. */
class Poke implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_: Model, r: Real) {
    await stub(r)
      .wake()
      .catch((error: Error) => {
        if (error.name !== "Stopped" && !error.message.includes("Stopped")) throw error;
      });
    await recover(r);
  }
  toString = () => "sweep poke";
}

class Wait implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_: Model, r: Real) {
    // The runtime fires due alarms by itself meanwhile.
    await new Promise((resolve) => setTimeout(resolve, this.ms));
    await recover(r);
  }
  toString = () => `wait ${this.ms} ms`;
}

const faults: Record<string, [AcmeKind, Fault]> = {
  "badNonce on newOrder": ["newOrder", () => problem("badNonce", 400)],
  "rateLimited on newOrder": [
    "newOrder",
    () => problem("rateLimited", 429, { "retry-after": "1" }),
  ],
  "500 on an authorization": ["authorization", () => problem("serverInternal", 500)],
  "lost connection on finalize": ["finalize", () => "network"],
  "lost connection on an order": ["order", () => "network"],
  "invalid order": [
    "order",
    async (_, forward) => {
      const response = await forward();
      if (response.status !== 200) return response;
      const order = (await response.json()) as Record<string, unknown>;
      order.status = "invalid";
      order.error = { type: "urn:ietf:params:acme:error:unauthorized", detail: "wire: invalid" };
      return Response.json(order, { headers: response.headers });
    },
  ],
  "CAA refusal on finalize": ["finalize", () => problem("caa", 403)],
  // A repeated request the CA refuses because the resource moved on (the answer reached it and
  // was lost on the way back): the runner reads the resource again and carries on from it.
  "challenge answered, then refused as no longer pending": [
    "challenge",
    async (_, forward) => {
      await forward();
      return problem("malformed", 400);
    },
  ],
  "finalize accepted, then refused as not ready": [
    "finalize",
    async (_, forward) => {
      await forward();
      return problem("orderNotReady", 403);
    },
  ],
  // A slow CA: the step is still in flight while the user's next commands arrive.
  "slow newOrder": ["newOrder", slowly],
  "slow finalize": ["finalize", slowly],
};

async function slowly(_: unknown, forward: () => Promise<Response>): Promise<Response> {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return forward();
}

class CaTrouble implements fc.AsyncCommand<Model, Real> {
  constructor(readonly fault: keyof typeof faults) {}
  check = () => true;
  async run(_: Model, r: Real) {
    const [kind, fault] = faults[this.fault] as [AcmeKind, Fault];
    r.wire.fail(kind, fault);
  }
  toString = () => `CA: ${this.fault}`;
}

class Stop implements fc.AsyncCommand<Model, Real> {
  constructor(readonly write: number) {}
  check = (m: Readonly<Model>) => m.exists;
  async run(_: Model, r: Real) {
    if (r.stop) return;
    r.stop = await stopAt(stub(r), (w) => w.n === this.write);
  }
  toString = () => `stop at write ${this.write}`;
}

class MirrorDown implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.exists;
  async run(_: Model, r: Real) {
    r.brokenMirrors.push(await breakMirror(stub(r)));
  }
  toString = () => "D1 mirror down";
}

// The list is weighted by repetition: mostly the lifecycle moving on, now and then trouble.
const commands = [
  fc.constant(new Create()),
  fc.constant(new Verify()),
  fc.constant(new Verify()),
  fc.boolean().map((on) => new Mode(on)),
  fc.constant(new Mode(true)),
  fc.constant(new Delete()),
  fc.constant(new Poke()),
  fc.integer({ min: 100, max: 1200 }).map((ms) => new Wait(ms)),
  fc.integer({ min: 100, max: 1200 }).map((ms) => new Wait(ms)),
  fc.constantFrom(...(Object.keys(faults) as (keyof typeof faults)[])).map((f) => new CaTrouble(f)),
  fc.integer({ min: 1, max: 6 }).map((n) => new Stop(n)),
  fc.constant(new MirrorDown()),
];

async function everDeployed(r: Real): Promise<boolean> {
  return (await stub(r).view()).history.some((h) => h.deployedAt !== null);
}

/** The trouble ends, objects come back clean, and the customer verifies again. */
async function heal(m: Model, r: Real): Promise<void> {
  r.wire.clearFaults();
  // A stopped object comes back from storage; one still running is left running, its pending
  // stop called off and its mirror mended.
  await recover(r);
  r.stop?.cancel();
  r.stop = null;
  for (const mirror of r.brokenMirrors.splice(0)) mirror.repair();
  if (m.exists && m.managed && m.verified) {
    // Verifying is the customer's retry: a failed attempt starts again at once.
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await r.account.call("POST", `/tracking-domains/${r.domain}/verify`);
      if (response.status === 200) break;
      expect(response.status).toBe(429);
      await new Promise((resolve) => setTimeout(resolve, 20_000));
    }
  }
  await settle(stub(r), { timeoutMs: 30_000 });
}

/** What the domain's row should show of its object: what the list and the API read. */
function expectedRow(m: Model, view: Awaited<ReturnType<ReturnType<typeof stub>["view"]>>) {
  if (!m.exists) return null;
  // Under way: the object's state. Otherwise managed HTTPS waiting for the name, or off.
  return view.enabled
    ? {
        tls_status: view.status,
        tls_step: view.step,
        tls_issued_at: view.current?.issuedAt ?? null,
        tls_expires_at: view.current?.notAfter ?? null,
      }
    : {
        tls_status: m.managed ? "pending" : "unknown",
        tls_step: null,
        tls_issued_at: null,
        tls_expires_at: null,
      };
}

async function checkInvariants(m: Model, r: Real): Promise<void> {
  const view = await stub(r).view();
  // A failed mirror write is retried 10 s later: the list agrees by then.
  const expected = expectedRow(m, view);
  const agrees = (row: Awaited<ReturnType<typeof mirrored>>) =>
    expected === null
      ? row === null
      : row !== null &&
        Object.entries(expected).every(([k, v]) => row[k as keyof typeof row] === v);
  let row = await mirrored(r.domain);
  for (const deadline = Date.now() + 15_000; !agrees(row) && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    row = await mirrored(r.domain);
  }
  // What a failure shows: the commands, then the object's own account of what it did.
  const events = (await stub(r).events(100))
    .reverse()
    .map((e) => `  ${e.at} ${e.from} -> ${e.to} (${e.status}) ${e.reason}`);
  const orders = r.wire
    .placedOrders(r.domain)
    .map((o) => `  ${o.url} ${o.ended ? "ended" : "live"}`);
  const requests = r.wire.requests
    .filter((q) => q.at && q.at >= r.startedAt && q.kind !== "nonce" && q.kind !== "directory")
    .map((q) => `  ${q.at} ${q.kind} ${q.url.split("/").slice(3).join("/")} → ${q.answer}`);
  const what = [
    ...r.log,
    "object's events:",
    ...events,
    "orders at the CA:",
    ...orders,
    "requests to the CA since the sequence began:",
    ...requests,
  ].join("\n");
  if (m.exists && m.managed && m.verified) {
    expect(view, what).toMatchObject({ status: "valid", step: "installed", error: null });
  }
  // The list agrees with the object.
  if (expected === null) expect(row, what).toBeNull();
  else expect(row, what).toMatchObject(expected);
  if (!(m.exists && m.managed)) {
    // Nothing half done stays answerable: no challenge token, no order in progress.
    expect(await storedChallenges(stub(r)), what).toBe(0);
    expect(view.enabled, what).toBe(false);
  }
  if (m.offBeforeFirstCertificate && !(m.exists && m.managed)) {
    // Switched off (or deleted) before a certificate was ever deployed: none is served.
    expect(await stub(r).edgeCertificate(), what).toBeNull();
  }
  // Orders never ran side by side: each order the CA placed for the name was the only live one.
  expect(r.wire.overlappingOrders(r.domain), what).toEqual([]);
  // No private key leaves the object.
  expect(JSON.stringify({ view, row }), what).not.toMatch(/PRIVATE KEY|"wrapped/);
}

const soakSeconds = Number(env.LIFECYCLE_SOAK_SECONDS || 0);
/** LIFECYCLE_TRACE=1: each command printed as it starts (for a sequence that hangs). */
const trace = env.LIFECYCLE_TRACE === "1";
/**
 * LIFECYCLE_REPLAY="<seed>:<path>/<replayPath>", from what a failure printed ({ seed, path } and
 * the counterexample's replayPath comment): runs that sequence alone.
 */
const replay = env.LIFECYCLE_REPLAY
  ? (() => {
      const [run = "", commandsPath = ""] = env.LIFECYCLE_REPLAY.split("/");
      const [seed = "0", ...path] = run.split(":");
      return { seed: Number(seed), path: path.join(":"), commandsPath };
    })()
  : null;

describe("the certificate lifecycle against its model", () => {
  let wire: CaWire;
  beforeEach(() => {
    wire = new CaWire().install();
  });
  afterEach(() => wire.uninstall());
  afterAll(() => abortAllDurableObjects());

  it("keeps its invariants through interleavings, CA trouble, stops and a failing mirror", {
    timeout: soakSeconds > 0 ? (soakSeconds + 120) * 1000 : 240_000,
  }, async () => {
    let issued = 0;
    let sequences = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commands, {
          maxCommands: 14,
          ...(replay?.commandsPath ? { replayPath: replay.commandsPath } : {}),
        }),
        async (cmds) => {
          const domain = `model-${crypto.randomUUID().slice(0, 8)}.lifecycle.${env.TEST_DYNAMIC_ZONE}`;
          await fetch(`${env.TEST_CHALLTESTSRV}/set-cname`, {
            method: "POST",
            body: JSON.stringify({ host: `${domain}.`, target: "v2.track-endpoint.test." }),
          });
          // Each sequence starts where most users are: the domain created and verified, its first
          // certificate under way.
          const model: Model = {
            exists: false,
            managed: false,
            verified: false,
            offBeforeFirstCertificate: false,
          };
          // An account of its own: its DNS checks a minute are limited (TEST_RATE_LIMITS).
          const account = await newAccount();
          const real: Real = {
            account,
            domain,
            wire,
            stop: null,
            brokenMirrors: [],
            log: [],
            startedAt: new Date().toISOString(),
          };
          await new Create().run(model, real);
          await new Verify().run(model, real);
          const logged = [...cmds].map((c) => {
            const run = c.run.bind(c);
            c.run = async (m, r) => {
              r.log.push(c.toString());
              if (trace) console.log(`${new Date().toISOString()} ${r.domain} ${c.toString()}`);
              await run(m, r);
            };
            return c;
          });
          await fc.asyncModelRun(() => ({ model, real }), logged);
          if (trace) console.log(`${new Date().toISOString()} ${real.domain} heal`);
          await heal(model, real);
          await checkInvariants(model, real);
          sequences++;
          if (model.exists && model.managed && model.verified) issued++;
          if (replay) console.log(real.log.join("\n"));
        },
      ),
      replay
        ? { seed: replay.seed, path: replay.path, endOnFailure: true, verbose: 2 }
        : soakSeconds > 0
          ? { numRuns: 1_000_000, interruptAfterTimeLimit: soakSeconds * 1000, verbose: 2 }
          : { numRuns: 12, seed: 20261207, endOnFailure: true, verbose: 2 },
    );
    console.log(`lifecycle model: ${sequences} sequences, ${issued} ending with a certificate`);
    // The sequences reached what the invariants are about: certificates issued through trouble.
    expect(issued).toBeGreaterThanOrEqual(soakSeconds > 0 || replay ? 0 : 4);
  });
});
