// Driving real certificate objects (DomainCertificate, its SQLite storage, its alarms) inside
// workerd against the lifecycle Pebble, which takes every challenge as valid, with the faults a
// user of the product lives through made to happen on purpose:
// - the CA: every request the objects send passes through a wire that counts the orders placed
//   per name and can answer instead of the CA (a problem, a 5xx, a network failure, a changed
//   resource);
// - a stop: the object dies at a chosen storage write (its earlier writes stay, as a Durable
//   Object's do) and comes back from storage, as after an eviction or a deploy;
// - D1: the mirror write fails while the object's own storage commits.
// Tests and objects share one isolate in the workers pool, so patching fetch here patches theirs.
import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { domainCertificateStub } from "../../durable-objects/stubs";
import type { TlsStatus } from "../../src/domains/model";
import { fromBase64Url, fromUtf8 } from "../../src/util/encoding";

export type Stub = ReturnType<typeof domainCertificateStub>;

/** What an ACME request is, from Pebble's paths. */
export type AcmeKind =
  | "directory"
  | "nonce"
  | "account"
  | "newOrder"
  | "order"
  | "finalize"
  | "authorization"
  | "challenge"
  | "certificate"
  | "other";

const kinds: [string, AcmeKind][] = [
  ["/dir", "directory"],
  ["/nonce-plz", "nonce"],
  ["/sign-me-up", "account"],
  ["/my-account/", "account"],
  ["/order-plz", "newOrder"],
  ["/my-order/", "order"],
  ["/finalize-order/", "finalize"],
  ["/authZ/", "authorization"],
  ["/chalZ/", "challenge"],
  ["/certZ/", "certificate"],
];

export interface WireRequest {
  kind: AcmeKind;
  method: string;
  url: string;
  /** The JWS payload of a POST, decoded (empty for POST-as-GET). */
  payload: unknown;
  at?: string;
  /** What came back: the status, and the resource's status or the problem's type. */
  answer?: string;
}

/**
 * An answer the wire gives instead of the CA's: a response (perhaps the CA's own, changed:
 * `forward` sends the request on), or a network failure.
 */
export type Fault = (
  request: WireRequest,
  forward: () => Promise<Response>,
) => Response | "network" | Promise<Response | "network">;

/** An ACME problem document, as a CA sends it. */
export function problem(type: string, status: number, headers: Record<string, string> = {}) {
  return new Response(
    JSON.stringify({ type: `urn:ietf:params:acme:error:${type}`, detail: `wire: ${type}`, status }),
    { status, headers: { "content-type": "application/problem+json", ...headers } },
  );
}

/** Every request to the lifecycle Pebble, counted, with faults in place of some answers. */
export class CaWire {
  readonly #origin = new URL(env.ACME_DIRECTORY_URL).origin;
  readonly #original = globalThis.fetch;
  /** Orders the CA placed (answered 201), per name. */
  readonly orders = new Map<string, number>();
  readonly requests: WireRequest[] = [];
  /** Faults waiting for a request of their kind, each used once, in order. */
  readonly #faults = new Map<AcmeKind, Fault[]>();

  install(): this {
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      if (!request.url.startsWith(this.#origin)) return this.#original(request);
      const body = request.method === "POST" ? await request.clone().text() : "";
      const wire: WireRequest = {
        kind: kindOf(request.url),
        method: request.method,
        url: request.url,
        payload: payloadOf(body),
      };
      this.requests.push(wire);
      const forward = () => this.#original(request);
      const taken = this.#stand ? await this.#stand(wire, forward) : null;
      const fault = taken ? undefined : this.#faults.get(wire.kind)?.shift();
      const response = taken ?? (fault ? await fault(wire, forward) : await forward());
      wire.at = new Date().toISOString();
      if (response === "network") {
        wire.answer = "network failure";
        throw new TypeError("wire: network connection lost");
      }
      await this.#observe(wire, response);
      const answered = (await jsonOf(response)) as { status?: unknown; type?: string } | null;
      wire.answer = `${response.status} ${answered?.type ?? answered?.status ?? ""}`;
      if (wire.kind === "newOrder" && response.status === 201) {
        const name = (wire.payload as { identifiers?: { value: string }[] }).identifiers?.[0]
          ?.value;
        if (name) this.orders.set(name, (this.orders.get(name) ?? 0) + 1);
      }
      return response;
    }) as typeof fetch;
    return this;
  }

  uninstall(): void {
    globalThis.fetch = this.#original;
  }

  #stand:
    | ((request: WireRequest, forward: () => Promise<Response>) => Promise<Response | null>)
    | null = null;

  /**
   * Every request goes to `stand` first; what it answers (not null) is the answer, for as long as
   * the wire is installed: a CA with features Pebble lacks (renewal information).
   */
  standIn(
    stand: (request: WireRequest, forward: () => Promise<Response>) => Promise<Response | null>,
  ): void {
    this.#stand = stand;
  }

  /** The next request of `kind` gets `fault`'s answer instead of the CA's. */
  fail(kind: AcmeKind, fault: Fault): void {
    this.#faults.set(kind, [...(this.#faults.get(kind) ?? []), fault]);
  }

  /** Per name, the orders placed, and whether the CA has since ended them (valid or invalid). */
  readonly #placed = new Map<string, PlacedOrder[]>();
  /** Per name, orders placed while an earlier one of the name was still live at the CA. */
  readonly #overlaps = new Map<string, string[]>();

  /** The orders placed for `name`, in order, and whether the CA ended them. */
  placedOrders(name: string): readonly PlacedOrder[] {
    return this.#placed.get(name) ?? [];
  }

  /** Orders of `name` that were placed while another of its orders was live (should be none). */
  overlappingOrders(name: string): string[] {
    return this.#overlaps.get(name) ?? [];
  }

  /** Learns from each answer: orders placed, and orders that ended (or whose authorization did). */
  async #observe(wire: WireRequest, response: Response): Promise<void> {
    if (response.status >= 300) return;
    const body = (await jsonOf(response)) as OrderBody | null;
    if (!body) return;
    if (wire.kind === "newOrder" && response.status === 201) {
      const name = body.identifiers?.[0]?.value ?? "";
      const url = response.headers.get("location") ?? "";
      const orders = this.#placed.get(name) ?? [];
      if (orders.some((o) => !o.ended)) {
        this.#overlaps.set(name, [...this.overlappingOrders(name), url]);
      }
      orders.push({
        url,
        finalize: body.finalize ?? "",
        authorizations: body.authorizations ?? [],
        ended: false,
      });
      this.#placed.set(name, orders);
      return;
    }
    const status = body.status ?? "";
    for (const orders of this.#placed.values()) {
      for (const order of orders) {
        const isOrder =
          (wire.kind === "order" && order.url === wire.url) ||
          (wire.kind === "finalize" && order.finalize === wire.url);
        if (isOrder && (status === "valid" || status === "invalid")) order.ended = true;
        const isAuthorization =
          wire.kind === "authorization" && order.authorizations.includes(wire.url);
        if (isAuthorization && ["invalid", "deactivated", "expired", "revoked"].includes(status))
          order.ended = true;
      }
    }
  }

  /** Faults that found no request to answer yet. */
  pendingFaults(): number {
    return [...this.#faults.values()].reduce((n, list) => n + list.length, 0);
  }

  /** The CA answers everything itself again. */
  clearFaults(): void {
    this.#faults.clear();
  }
}

export interface PlacedOrder {
  url: string;
  finalize: string;
  authorizations: string[];
  ended: boolean;
}

interface OrderBody {
  status?: string;
  identifiers?: { value: string }[];
  authorizations?: string[];
  finalize?: string;
}

/** A JSON answer's body (an order, a problem), or null for anything else (a certificate chain). */
async function jsonOf(response: Response): Promise<unknown> {
  if (!/json/.test(response.headers.get("content-type") ?? "")) return null;
  return response
    .clone()
    .json()
    .catch(() => null);
}

function kindOf(url: string): AcmeKind {
  const path = new URL(url).pathname;
  return kinds.find(([prefix]) => path === prefix || path.startsWith(prefix))?.[1] ?? "other";
}

function payloadOf(body: string): unknown {
  if (!body) return undefined;
  try {
    const jws = JSON.parse(body) as { payload?: string };
    return jws.payload ? JSON.parse(fromUtf8(fromBase64Url(jws.payload))) : {};
  } catch {
    return undefined;
  }
}

/** Why the object died: thrown from its storage at the chosen write. */
export class Stopped extends Error {
  override readonly name = "Stopped";
}

const writes = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;

export interface StorageWrite {
  query: string;
  /** Counts the object's writes from 1, from when the stop was set. */
  n: number;
  /** The lifecycle phase stored when the write is made (null before the first state). */
  phase: string | null;
}

/**
 * Makes the object die at its storage: `at(write)` is asked before each write and says whether
 * the object stops there, before the write. Once stopped, it fails at every write (as if gone)
 * until it is restarted. The alarms keep running as the runtime runs them, so the stop happens in
 * whichever alarm reaches the write; `stopped()` tells whether it has.
 */
export async function stopAt(
  stub: Stub,
  at: (write: StorageWrite) => boolean,
): Promise<{ stopped: () => boolean; cancel: () => void }> {
  let stopped = false;
  let cancelled = false;
  await runInDurableObject(stub, (_, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec.bind(sql);
    let n = 0;
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      if (!cancelled && writes.test(query)) {
        n++;
        const row = exec("SELECT state FROM lifecycle WHERE id = 1").toArray()[0] as
          | { state: string }
          | undefined;
        const phase = row ? (JSON.parse(row.state) as { phase: string }).phase : null;
        if (stopped || at({ query, n, phase })) {
          stopped = true;
          throw new Stopped(`stopped before write ${n} (${phase}): ${query.trim().slice(0, 40)}`);
        }
      }
      return exec(query, ...bindings);
    }) as typeof sql.exec;
  });
  return {
    stopped: () => stopped,
    /** A stop that has not happened yet never will. */
    cancel: () => {
      if (!stopped) cancelled = true;
    },
  };
}

/** Waits until `done()`, or fails after `timeoutMs`. */
export async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The object comes back from storage: every object's memory goes, what they stored stays. Stubs
 * from before cannot reach the new instance: use the one returned.
 */
export async function restart(domain: string): Promise<Stub> {
  await abortAllDurableObjects();
  return domainCertificateStub(env, domain, "us");
}

/**
 * Makes the object's D1 writes fail until it is restarted or `repair()` is called (its own
 * storage still commits).
 */
export async function breakMirror(stub: Stub): Promise<{ repair: () => void }> {
  let down = true;
  await runInDurableObject(stub, (instance) => {
    const own = (instance as unknown as { env: Env }).env;
    const failing = new Proxy(own.DB, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property !== "prepare") return typeof value === "function" ? value.bind(target) : value;
        return (query: string) => {
          if (down && /^\s*UPDATE tracking_domains/i.test(query))
            throw new Error("D1_ERROR: the mirror is down (wire)");
          return target.prepare(query);
        };
      },
    });
    Object.defineProperty(instance, "env", { value: { ...own, DB: failing }, configurable: true });
  });
  return {
    repair: () => {
      down = false;
    },
  };
}

export async function alarmOf(stub: Stub): Promise<number | null> {
  return runInDurableObject(stub, (_, state) => state.storage.getAlarm());
}

/**
 * Waits while the runtime runs the object's alarms as they fall due (and, when an object has no
 * alarm though something is due, gives the Cron sweep's poke), until the object is at rest:
 * installed, idle, or with nothing of its own due within `restMs` (a retry an hour away is rest).
 */
export async function settle(
  stub: Stub,
  options: { restMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  const restMs = options.restMs ?? 5000;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    const view = await stub.view();
    const due = view.nextRunAt ? Date.parse(view.nextRunAt) : null;
    const atRest =
      !view.enabled ||
      view.step === "idle" ||
      (view.step === "installed" && (due === null || due > Date.now() + restMs)) ||
      (due !== null && due > Date.now() + restMs);
    if (atRest) return;
    // The sweep's poke: a due object whose alarm was lost (a stop before it was set) is woken.
    if ((await alarmOf(stub)) === null) await stub.wake();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `not at rest within ${options.timeoutMs ?? 20_000} ms: ${JSON.stringify(await stub.view())}`,
  );
}

/** A tracking domain that verified and whose CNAME reaches us, with its object. */
export async function managedDomain(
  accountId: number,
  label = "life",
): Promise<{
  domain: string;
  stub: Stub;
}> {
  const domain = `${label}-${crypto.randomUUID().slice(0, 8)}.lifecycle.${env.TEST_DYNAMIC_ZONE}`;
  const response = await fetch(`${env.TEST_CHALLTESTSRV}/set-cname`, {
    method: "POST",
    body: JSON.stringify({ host: `${domain}.`, target: "v2.track-endpoint.test." }),
  });
  if (!response.ok) throw new Error(`challtestsrv: HTTP ${response.status}`);
  await env.DB.prepare(
    `INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified, cname_status, tls_status)
     VALUES (?, ?, 'us', 'managed', 1, 'valid', 'pending')`,
  )
    .bind(domain, accountId)
    .run();
  return { domain, stub: domainCertificateStub(env, domain, "us") };
}

/** The domain's row as the API reads it. */
export async function mirrored(domain: string) {
  return env.DB.prepare(
    `SELECT tls_status, tls_expires_at, tls_issued_at, tls_step, tls_error_code, tls_action_by
     FROM tracking_domains WHERE domain = ?`,
  )
    .bind(domain)
    .first<{
      tls_status: TlsStatus;
      tls_expires_at: string | null;
      tls_issued_at: string | null;
      tls_step: string | null;
      tls_error_code: string | null;
      tls_action_by: string | null;
    }>();
}

/** The object's challenge tokens still stored (and so still answered at the edge). */
export async function storedChallenges(stub: Stub): Promise<number> {
  return runInDurableObject(
    stub,
    (_, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM challenges").one().n,
  );
}
