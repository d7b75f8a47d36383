// The request layer against a scripted CA: nonces, badNonce re-signing, retries, deadlines,
// size limits and malformed resources. The real CA (Pebble) is in the integration tests.
import { describe, expect, it } from "vitest";
import { newAccount } from "../../src/acme/account";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import { getOrder, newOrder, ProfileNotOfferedError } from "../../src/acme/order";
import {
  AcmeNetworkError,
  AcmeProblem,
  AcmeProtocolError,
  classifyError,
} from "../../src/acme/problem";
import { fromBase64Url, fromUtf8 } from "../../src/util/encoding";

const base = "https://ca.example";
const directory = {
  newNonce: `${base}/nonce`,
  newAccount: `${base}/acct`,
  newOrder: `${base}/order`,
  revokeCert: `${base}/revoke`,
  keyChange: `${base}/key-change`,
  meta: { profiles: { classic: "90 days", tlsserver: "45 days" } },
};

interface Seen {
  method: string;
  url: string;
  body: string | undefined;
  nonce: string | undefined;
}

type Handler = (request: Request, seen: Seen) => Response | Promise<Response>;

function fakeCa(routes: Record<string, Handler>) {
  const seen: Seen[] = [];
  let counter = 0;
  const nextNonce = () => `nonce${++counter}`;
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const body = request.method === "POST" ? await request.text() : undefined;
    const nonce = body
      ? JSON.parse(fromUtf8(fromBase64Url(JSON.parse(body).protected))).nonce
      : undefined;
    const entry = { method: request.method, url: request.url, body, nonce };
    seen.push(entry);
    const path = new URL(request.url).pathname;
    const handler = routes[`${request.method} ${path}`] ?? routes[path];
    const response = handler
      ? await handler(request, entry)
      : new Response("not found", { status: 404 });
    const headers = new Headers(response.headers);
    // RFC 8555 §6.5: every POST response carries a fresh nonce, and so does newNonce.
    if (request.method !== "GET") headers.set("replay-nonce", nextNonce());
    return new Response(response.body, { status: response.status, headers });
  };
  return { fetch: fakeFetch as typeof fetch, seen };
}

const json = (value: unknown, init: ResponseInit = {}) =>
  new Response(JSON.stringify(value), {
    ...init,
    headers: { "content-type": "application/json", ...init.headers },
  });
const problem = (type: string, status: number, headers: Record<string, string> = {}) =>
  json({ type: `urn:ietf:params:acme:error:${type}`, detail: type }, { status, headers });

const order = {
  status: "pending",
  identifiers: [{ type: "dns", value: "track.example.com" }],
  authorizations: [`${base}/authz/1`],
  finalize: `${base}/order/1/finalize`,
};

const standardRoutes: Record<string, Handler> = {
  "/dir": () => json(directory),
  "HEAD /nonce": () => new Response(null, { status: 200 }),
  "POST /acct": () =>
    json({ status: "valid" }, { status: 201, headers: { location: `${base}/acct/1` } }),
  "POST /order": () => json(order, { status: 201, headers: { location: `${base}/order/1` } }),
};

async function clientFor(
  routes: Record<string, Handler>,
  options: Partial<ConstructorParameters<typeof AcmeClient>[0]> = {},
) {
  const ca = fakeCa({ ...standardRoutes, ...routes });
  const client = new AcmeClient({
    directoryUrl: `${base}/dir`,
    fetch: ca.fetch,
    getRetryDelaysMs: [0, 0],
    ...options,
  });
  const key = await generateAccountKey();
  return { ca, client, key, signer: { key, accountUrl: `${base}/acct/1` } };
}

describe("ACME request layer", () => {
  it("asks newNonce only when the pool is empty, then uses the nonce of each response", async () => {
    const { ca, client, key, signer } = await clientFor({});
    await newAccount(client, key, { termsOfServiceAgreed: true });
    await newOrder(client, signer, { identifiers: order.identifiers });
    await newOrder(client, signer, { identifiers: order.identifiers });
    expect(ca.seen.filter((r) => r.method === "HEAD")).toHaveLength(1);
    const posts = ca.seen.filter((r) => r.method === "POST");
    // Each POST used the nonce that the response just before it carried.
    expect(posts.map((p) => p.nonce)).toEqual(["nonce1", "nonce2", "nonce3"]);
    expect(client.pooledNonces).toBe(1);
  });

  it("re-signs with a fresh nonce after badNonce, and never sends the same body twice", async () => {
    let refusals = 3;
    const { ca, client, signer } = await clientFor({
      "POST /order": () =>
        refusals-- > 0
          ? problem("badNonce", 400)
          : json(order, { status: 201, headers: { location: `${base}/order/1` } }),
    });
    const placed = await newOrder(client, signer, { identifiers: order.identifiers });
    expect(placed.url).toBe(`${base}/order/1`);
    const posts = ca.seen.filter((r) => r.method === "POST");
    expect(posts).toHaveLength(4);
    expect(new Set(posts.map((p) => p.body)).size).toBe(4);
    expect(new Set(posts.map((p) => p.nonce)).size).toBe(4);
    expect(ca.seen.filter((r) => r.method === "HEAD")).toHaveLength(1);
  });

  it("gives up on badNonce after its bound and says so", async () => {
    const { ca, client, signer } = await clientFor(
      { "POST /order": () => problem("badNonce", 400) },
      { maxBadNonceRetries: 3 },
    );
    const error = await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcmeProblem);
    expect((error as AcmeProblem).is("badNonce")).toBe(true);
    expect(ca.seen.filter((r) => r.method === "POST")).toHaveLength(4);
  });

  it("retries a GET after a 5xx, but never a signed POST", async () => {
    let directoryFailures = 1;
    const { ca, client, signer } = await clientFor({
      "/dir": () =>
        directoryFailures-- > 0 ? new Response("busy", { status: 503 }) : json(directory),
      "POST /order": () => problem("serverInternal", 500),
    });
    const error = await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    );
    expect((error as AcmeProblem).is("serverInternal")).toBe(true);
    expect(classifyError(error)).toEqual({ kind: "retryable" });
    expect(ca.seen.filter((r) => r.url.endsWith("/dir"))).toHaveLength(2);
    expect(ca.seen.filter((r) => r.method === "POST")).toHaveLength(1);
  });

  it("keeps a rate limit's Retry-After", async () => {
    const { client, signer } = await clientFor({
      "POST /order": () => problem("rateLimited", 429, { "retry-after": "3600" }),
    });
    const error = (await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    )) as AcmeProblem;
    const verdict = classifyError(error);
    expect(verdict.kind).toBe("rate_limited");
    const retryAt = verdict.kind === "rate_limited" ? verdict.retryAt : undefined;
    expect(Math.round(((retryAt?.getTime() ?? 0) - Date.now()) / 1000)).toBeGreaterThan(3590);
  });

  it("gives up on a CA that does not answer, within its deadline", async () => {
    const { client, signer } = await clientFor(
      {
        "POST /order": (request) =>
          new Promise<Response>((_, reject) =>
            request.signal.addEventListener("abort", () => reject(request.signal.reason)),
          ),
      },
      { timeoutMs: 100 },
    );
    const started = Date.now();
    const error = await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect((error as AcmeNetworkError).timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it.each([
    [
      "an oversized body",
      {
        "POST /order": () =>
          json(
            { padding: "x".repeat(2_000_000) },
            { status: 201, headers: { location: `${base}/order/1` } },
          ),
      },
      "larger than",
    ],
    [
      "an order without Location",
      { "POST /order": () => json(order, { status: 201 }) },
      "without the order URL",
    ],
    [
      "a status the RFC does not define",
      {
        "POST /order": () =>
          json(
            { ...order, status: "pondering" },
            { status: 201, headers: { location: `${base}/order/1` } },
          ),
      },
      "status",
    ],
    [
      "a directory without newOrder",
      { "/dir": () => json({ ...directory, newOrder: undefined }) },
      "newOrder",
    ],
    [
      "a body that is not JSON",
      {
        "POST /order": () =>
          new Response("<html>", { status: 201, headers: { location: `${base}/order/1` } }),
      },
      "not JSON",
    ],
  ])("calls %s a protocol error", async (_, routes, message) => {
    const { client, signer } = await clientFor(routes as Record<string, Handler>);
    const error = await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcmeProtocolError);
    expect((error as Error).message).toContain(message);
  });

  it("refuses a profile the CA does not list, before asking", async () => {
    const { ca, client, signer } = await clientFor({});
    await expect(
      newOrder(client, signer, { identifiers: order.identifiers, profile: "shortlived" }),
    ).rejects.toThrow(ProfileNotOfferedError);
    await expect(
      newOrder(client, signer, { identifiers: order.identifiers, profile: "shortlived" }),
    ).rejects.toThrow("offers classic, tlsserver");
    expect(ca.seen.filter((r) => r.url.endsWith("/order"))).toHaveLength(0);
  });

  it("returns the order with the server's Retry-After, and POSTs-as-GET to read it", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /order/1": () =>
        json({ ...order, status: "processing" }, { headers: { "retry-after": "7" } }),
    });
    const fetched = await getOrder(client, signer, `${base}/order/1`);
    expect(fetched.resource.status).toBe("processing");
    expect(Math.round(((fetched.retryAfter?.getTime() ?? 0) - Date.now()) / 1000)).toBe(7);
    const post = ca.seen.find((r) => r.url.endsWith("/order/1"));
    expect(JSON.parse(post?.body ?? "{}").payload).toBe("");
  });
});
