// The request layer against a scripted CA: nonces, badNonce re-signing, retries, deadlines,
// size limits and malformed resources. The real CA (Pebble) is in the integration tests.
import { describe, expect, it } from "vitest";
import { findAccount, getAccount, newAccount } from "../../src/acme/account";
import { certificateIdOf, getRenewalInfo, RenewalInfoUnavailableError } from "../../src/acme/ari";
import {
  answerChallenge,
  deactivateAuthorization,
  findChallenge,
  getAuthorization,
} from "../../src/acme/authorization";
import { downloadCertificate, revokeCertificate } from "../../src/acme/certificate";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import {
  finalizeOrder,
  getOrder,
  listOrders,
  newOrder,
  ProfileNotOfferedError,
} from "../../src/acme/order";
import {
  AcmeNetworkError,
  AcmeProblem,
  AcmeProtocolError,
  classifyError,
} from "../../src/acme/problem";
import { toPem } from "../../src/pki/pem";
import { base64Url, fromBase64Url, fromUtf8 } from "../../src/util/encoding";
import { selfSignedCertificate } from "../support/self-signed";

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
  headers: Headers;
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
    const entry = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body,
      nonce,
    };
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

/** A POST's JWS payload, decoded ("" for POST-as-GET). */
const payloadOf = (seen: Seen) => {
  const jws = JSON.parse(seen.body ?? "{}") as { payload?: string };
  return jws.payload ? JSON.parse(fromUtf8(fromBase64Url(jws.payload))) : "";
};

describe("the client's requests", () => {
  const protectedOf = (seen: Seen | undefined) => {
    const jws = JSON.parse(seen?.body ?? "{}") as { protected?: string };
    return JSON.parse(fromUtf8(fromBase64Url(jws.protected ?? ""))) as Record<string, unknown>;
  };

  it("asks for the directory as JSON once, and again only after it failed", async () => {
    let failing = true;
    const { ca, client } = await clientFor({
      "/dir": () => (failing ? problem("serverInternal", 404) : json(directory)),
    });
    await expect(client.directory()).rejects.toThrow(AcmeProblem);
    failing = false;
    expect((await client.directory()).newOrder).toBe(directory.newOrder);
    await client.directory();
    const reads = ca.seen.filter((r) => r.url.endsWith("/dir"));
    expect(reads).toHaveLength(2);
    expect(reads.map((r) => r.headers.get("accept"))).toEqual([
      "application/json",
      "application/json",
    ]);
  });

  it("names the directory when it is not JSON", async () => {
    const { client } = await clientFor({ "/dir": () => new Response("<html>") });
    await expect(client.directory()).rejects.toThrow("the directory is not JSON (HTTP 200)");
  });

  it("GETs as JSON unless told otherwise", async () => {
    const { ca, client } = await clientFor({ "/thing": () => json({}) });
    await client.get(`${base}/thing`);
    await client.get(`${base}/thing`, "application/pem-certificate-chain");
    expect(ca.seen.map((r) => r.headers.get("accept"))).toEqual([
      "application/json",
      "application/pem-certificate-chain",
    ]);
  });

  it("signs a POST with the account URL once there is one, as JOSE JSON, with the accept asked for", async () => {
    const { ca, client, key, signer } = await clientFor({ "POST /thing": () => json({}) });
    await client.post(`${base}/thing`, { key }, {});
    await client.post(`${base}/thing`, signer, {}, "application/pem-certificate-chain");
    const [first, second] = ca.seen.filter((r) => r.url.endsWith("/thing"));
    expect(protectedOf(first)).toMatchObject({ jwk: key.publicJwk, url: `${base}/thing` });
    expect(protectedOf(first).kid).toBeUndefined();
    expect(protectedOf(second)).toMatchObject({ kid: signer.accountUrl, url: `${base}/thing` });
    expect(protectedOf(second).jwk).toBeUndefined();
    expect(first?.headers.get("content-type")).toBe("application/jose+json");
    expect(first?.headers.get("accept")).toBeNull();
    expect(second?.headers.get("accept")).toBe("application/pem-certificate-chain");
  });

  it("keeps at most the newest 16 nonces by default, or as many as it is told", async () => {
    let counter = 0;
    const nonced = () => json({}, { headers: { "replay-nonce": `n${++counter}` } });
    const { client } = await clientFor({ "/thing": nonced });
    for (let i = 0; i < 20; i++) await client.get(`${base}/thing`);
    expect(client.pooledNonces).toBe(16);
    const small = await clientFor({ "/thing": nonced }, { noncePoolSize: 2 });
    for (let i = 0; i < 5; i++) await small.client.get(`${base}/thing`);
    expect(small.client.pooledNonces).toBe(2);
    // The newest is used first.
    await small.client.post(`${base}/thing`, small.signer, {});
    expect(small.ca.seen.at(-1)?.nonce).toBe(`n${counter - 1}`);
  });

  it.each(["abc!", "!abc", "a b", "abc="])(
    "does not keep the nonce %j, which is not base64url",
    async (value) => {
      const { client } = await clientFor({
        "/thing": () => json({}, { headers: { "replay-nonce": value } }),
      });
      await client.get(`${base}/thing`);
      expect(client.pooledNonces).toBe(0);
    },
  );

  it("calls a newNonce that fails or carries no nonce a protocol error, saying which", async () => {
    const refusing = await clientFor({
      "HEAD /nonce": () => new Response(null, { status: 400 }),
    });
    await expect(newOrder(refusing.client, refusing.signer, { identifiers: [] })).rejects.toThrow(
      `newNonce answered HTTP 400 (${base}/nonce)`,
    );
    const bare = fakeCa({ ...standardRoutes });
    const noNonce = new AcmeClient({
      directoryUrl: `${base}/dir`,
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await bare.fetch(input, init);
        const headers = new Headers(response.headers);
        headers.delete("replay-nonce");
        return new Response(response.body, { status: response.status, headers });
      }) as typeof fetch,
    });
    await expect(newOrder(noNonce, refusing.signer, { identifiers: [] })).rejects.toThrow(
      `newNonce answered HTTP 200 without a Replay-Nonce (${base}/nonce)`,
    );
  });

  it("says which field of a resource is not as RFC 8555 defines it", async () => {
    const { client, signer } = await clientFor({
      "POST /order": () =>
        json(
          { ...order, status: "bogus" },
          { status: 201, headers: { location: `${base}/order/1` } },
        ),
    });
    const error = await newOrder(client, signer, { identifiers: order.identifiers }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcmeProtocolError);
    expect((error as Error).message).toMatch(/^the order is not as RFC 8555 defines it: status \S/);
    const root = await clientFor({
      "POST /order": () => json([], { status: 201, headers: { location: `${base}/order/1` } }),
    });
    await expect(
      newOrder(root.client, root.signer, { identifiers: order.identifiers }),
    ).rejects.toThrow(/^the order is not as RFC 8555 defines it: \(root\) \S/);
  });
});

describe("renewal information (RFC 9773)", () => {
  const window = { start: "2026-12-10T00:00:00Z", end: "2026-12-11T00:00:00Z" };
  const withAri = (ari: Handler) => ({
    "/dir": () => json({ ...directory, renewalInfo: `${base}/ari//` }),
    "/ari/AAA.BBB": ari,
  });

  it("is a plain GET of {renewalInfo}/{certID}, with the CA's Retry-After", async () => {
    const { ca, client } = await clientFor(
      withAri(() =>
        json(
          { suggestedWindow: window, explanationURL: `${base}/why` },
          { headers: { "retry-after": "21600" } },
        ),
      ),
    );
    const info = await getRenewalInfo(client, "AAA.BBB");
    expect(info.resource.suggestedWindow).toEqual(window);
    expect(info.url).toBe(`${base}/ari/AAA.BBB`);
    // Retry-After in seconds, kept as the moment to ask again.
    const askAgainIn = (info.retryAfter?.getTime() ?? 0) - Date.now();
    expect(askAgainIn).toBeGreaterThan(21_590_000);
    expect(askAgainIn).toBeLessThanOrEqual(21_600_000);
    expect(ca.seen.filter((r) => r.url.includes("/ari/")).map((r) => r.method)).toEqual(["GET"]);
  });

  it("is unavailable from a CA without it, and a window that ends first is refused", async () => {
    const none = await clientFor({});
    const error = await getRenewalInfo(none.client, "AAA.BBB").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RenewalInfoUnavailableError);
    expect(error).toMatchObject({
      name: "RenewalInfoUnavailableError",
      message: "the CA does not offer renewal information",
    });
    const backwards = await clientFor(
      withAri(() => json({ suggestedWindow: { start: window.end, end: window.start } })),
    );
    await expect(getRenewalInfo(backwards.client, "AAA.BBB")).rejects.toThrow(
      "the suggested renewal window ends before it starts",
    );
    const empty = await clientFor(
      withAri(() => json({ suggestedWindow: { start: window.start, end: window.start } })),
    );
    await expect(getRenewalInfo(empty.client, "AAA.BBB")).rejects.toBeInstanceOf(AcmeProtocolError);
  });

  it("names the renewalInfo when it is not JSON", async () => {
    const { client } = await clientFor(withAri(() => new Response("<html>")));
    await expect(getRenewalInfo(client, "AAA.BBB")).rejects.toThrow(
      `the renewalInfo is not JSON (HTTP 200) (${base}/ari/AAA.BBB)`,
    );
  });

  it("has no identifier for a certificate without an Authority Key Identifier", async () => {
    const der = await selfSignedCertificate("track.example.com");
    expect(() => certificateIdOf(der)).toThrow(
      new RenewalInfoUnavailableError(
        "the certificate has no Authority Key Identifier, so it has no ARI identifier",
      ),
    );
  });
});

describe("an account's orders (RFC 8555 §7.1.2.1)", () => {
  const page = (orders: string[], next?: string) => () =>
    json({ orders }, next ? { headers: { link: `<${next}>;rel="next"` } } : {});

  it("follows rel=next to the last page, with POST-as-GET", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /acct/1/orders": page([`${base}/o/1`, `${base}/o/2`], `${base}/acct/1/orders/2`),
      "POST /acct/1/orders/2": page([`${base}/o/3`], `${base}/acct/1/orders/3`),
      "POST /acct/1/orders/3": page([`${base}/o/4`]),
    });
    expect(await listOrders(client, signer, `${base}/acct/1/orders`)).toEqual([
      `${base}/o/1`,
      `${base}/o/2`,
      `${base}/o/3`,
      `${base}/o/4`,
    ]);
    const reads = ca.seen.filter((r) => r.url.includes("/orders"));
    expect(reads).toHaveLength(3);
    expect(reads.map(payloadOf)).toEqual(["", "", ""]);
  });

  it("reads at most maxPages pages", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /acct/1/orders": page([`${base}/o/1`], `${base}/acct/1/orders/2`),
      "POST /acct/1/orders/2": page([`${base}/o/2`], `${base}/acct/1/orders/3`),
      "POST /acct/1/orders/3": page([`${base}/o/3`]),
    });
    expect(await listOrders(client, signer, `${base}/acct/1/orders`, 2)).toEqual([
      `${base}/o/1`,
      `${base}/o/2`,
    ]);
    expect(ca.seen.filter((r) => r.url.includes("/orders"))).toHaveLength(2);
  });

  it("refuses a list that is not one", async () => {
    const { client, signer } = await clientFor({
      "POST /acct/1/orders": () => json({ orders: "all of them" }),
    });
    await expect(listOrders(client, signer, `${base}/acct/1/orders`)).rejects.toThrow(
      /orders list is not as RFC 8555 defines it/,
    );
  });
});

describe("authorizations and challenges", () => {
  const authorization = {
    status: "pending",
    identifier: { type: "dns", value: "track.example.com" },
    challenges: [
      { type: "dns-01", url: `${base}/chal/dns`, status: "pending", token: "t1" },
      { type: "http-01", url: `${base}/chal/http`, status: "pending", token: "t2" },
    ],
  };

  it("reads one with POST-as-GET, finds its HTTP-01 challenge and answers it with {}", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /authz/1": () => json(authorization, { headers: { "retry-after": "3" } }),
      "POST /chal/http": () => json({ ...authorization.challenges[1], status: "processing" }),
      "POST /authz/2": () => json({ ...authorization, status: "deactivated" }),
    });
    const read = await getAuthorization(client, signer, `${base}/authz/1`);
    expect(read.url).toBe(`${base}/authz/1`);
    expect((read.retryAfter?.getTime() ?? 0) - Date.now()).toBeGreaterThan(2000);
    const challenge = findChallenge(read.resource, "http-01");
    expect(challenge?.url).toBe(`${base}/chal/http`);
    expect(findChallenge(read.resource, "tls-alpn-01")).toBeUndefined();
    const answered = await answerChallenge(client, signer, challenge?.url ?? "");
    expect(answered.resource.status).toBe("processing");
    const deactivated = await deactivateAuthorization(client, signer, `${base}/authz/2`);
    expect(deactivated.resource.status).toBe("deactivated");
    const posts = ca.seen.filter((r) => r.method === "POST" && !r.url.endsWith("/acct"));
    expect(posts.map((p) => [new URL(p.url).pathname, payloadOf(p)])).toEqual([
      ["/authz/1", ""],
      ["/chal/http", {}],
      ["/authz/2", { status: "deactivated" }],
    ]);
  });

  it("refuses an authorization that is not one", async () => {
    const { client, signer } = await clientFor({
      "POST /authz/1": () => json({ status: "pending", challenges: "none" }),
    });
    await expect(getAuthorization(client, signer, `${base}/authz/1`)).rejects.toBeInstanceOf(
      AcmeProtocolError,
    );
  });
});

describe("certificates (RFC 8555 §7.4.2, §7.6)", () => {
  /** A self-signed certificate named `name`: a chain of one whose top issuer is `name`. */
  const selfSigned = (name: string) => selfSignedCertificate(name, { serial: 7 });
  const pemResponse =
    (der: Uint8Array, links: string[] = []) =>
    () =>
      new Response(toPem("CERTIFICATE", der), {
        headers: {
          "content-type": "application/pem-certificate-chain",
          ...(links.length ? { link: links.map((l) => `<${l}>;rel="alternate"`).join(", ") } : {}),
        },
      });

  async function chains() {
    const [a, b, c] = await Promise.all(["Root A", "Root B", "Root C"].map(selfSigned));
    return clientFor({
      "POST /cert/1": pemResponse(a as Uint8Array, [`${base}/cert/1/1`, `${base}/cert/1/2`]),
      "POST /cert/1/1": pemResponse(b as Uint8Array),
      "POST /cert/1/2": pemResponse(c as Uint8Array),
    });
  }

  it("downloads the default chain with its alternates, when no issuer is preferred", async () => {
    const { ca, client, signer } = await chains();
    const chain = await downloadCertificate(client, signer, `${base}/cert/1`);
    expect(chain).toMatchObject({
      url: `${base}/cert/1`,
      topIssuer: "Root A",
      alternates: [`${base}/cert/1/1`, `${base}/cert/1/2`],
    });
    expect(chain.certificates).toHaveLength(1);
    expect(chain.pem).toContain("BEGIN CERTIFICATE");
    const reads = ca.seen.filter((r) => r.url.includes("/cert/"));
    expect(reads.map((r) => [new URL(r.url).pathname, payloadOf(r)])).toEqual([["/cert/1", ""]]);
  });

  it("takes the alternate whose top issuer is preferred, listing the others", async () => {
    const { ca, client, signer } = await chains();
    const chain = await downloadCertificate(client, signer, `${base}/cert/1`, {
      preferredIssuer: "Root C",
    });
    expect(chain).toMatchObject({
      url: `${base}/cert/1/2`,
      topIssuer: "Root C",
      alternates: [`${base}/cert/1`, `${base}/cert/1/1`],
    });
    expect(ca.seen.filter((r) => r.url.includes("/cert/")).map((r) => r.url)).toEqual([
      `${base}/cert/1`,
      `${base}/cert/1/1`,
      `${base}/cert/1/2`,
    ]);
    // The default chain when it is the preferred one, without reading the alternates.
    const again = await chains();
    expect(
      (
        await downloadCertificate(again.client, again.signer, `${base}/cert/1`, {
          preferredIssuer: "Root A",
        })
      ).url,
    ).toBe(`${base}/cert/1`);
    expect(again.ca.seen.filter((r) => r.url.includes("/cert/"))).toHaveLength(1);
  });

  it("keeps the default chain when no chain has the preferred issuer", async () => {
    const { client, signer } = await chains();
    const chain = await downloadCertificate(client, signer, `${base}/cert/1`, {
      preferredIssuer: "Root Z",
    });
    expect(chain).toMatchObject({
      url: `${base}/cert/1`,
      topIssuer: "Root A",
      alternates: [`${base}/cert/1/1`, `${base}/cert/1/2`],
    });
  });

  it("calls a chain that is not PEM a protocol error", async () => {
    const { client, signer } = await clientFor({
      "POST /cert/1": () => new Response("<html>oops</html>"),
    });
    const error = await downloadCertificate(client, signer, `${base}/cert/1`).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AcmeProtocolError);
    expect((error as Error).message).toMatch(/the certificate chain is not PEM/);
  });

  it("revokes with the certificate and, when given, the reason, at revokeCert", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /revoke": () => new Response(null, { status: 200 }),
    });
    const der = await selfSigned("track.example.com");
    await revokeCertificate(client, signer, der, 4);
    await revokeCertificate(client, signer, der);
    const revocations = ca.seen.filter((r) => r.url === `${base}/revoke`).map(payloadOf);
    expect(revocations).toEqual([
      { certificate: base64Url(der), reason: 4 },
      { certificate: base64Url(der) },
    ]);
  });
});

describe("accounts (RFC 8555 §7.3)", () => {
  it("sends the terms, the contacts and nothing else, and keeps the account's URL", async () => {
    const { ca, client, key } = await clientFor({});
    const created = await newAccount(client, key, {
      termsOfServiceAgreed: true,
      contact: ["mailto:ops@example.com"],
    });
    expect(created).toMatchObject({ url: `${base}/acct/1`, resource: { status: "valid" } });
    await newAccount(client, key, { termsOfServiceAgreed: false, contact: [] });
    const sent = ca.seen.filter((r) => r.url === `${base}/acct`);
    expect(sent.map(payloadOf)).toEqual([
      { termsOfServiceAgreed: true, contact: ["mailto:ops@example.com"] },
      { termsOfServiceAgreed: false },
    ]);
    // Signed with the key itself (jwk), as a new account must be, not a kid.
    const header = JSON.parse(
      fromUtf8(fromBase64Url(JSON.parse(sent[0]?.body ?? "{}").protected)),
    ) as Record<string, unknown>;
    expect(header.jwk).toBeDefined();
    expect(header.kid).toBeUndefined();
  });

  it("finds an existing account without creating one", async () => {
    const { ca, client, key } = await clientFor({
      "POST /acct": () => json({ status: "valid" }, { headers: { location: `${base}/acct/9` } }),
    });
    expect((await findAccount(client, key)).url).toBe(`${base}/acct/9`);
    expect(payloadOf(ca.seen.find((r) => r.url === `${base}/acct`) as Seen)).toEqual({
      onlyReturnExisting: true,
    });
  });

  it("binds an external account when asked (RFC 8555 §7.3.4)", async () => {
    const { ca, client, key } = await clientFor({});
    const hmacKey = base64Url(crypto.getRandomValues(new Uint8Array(32)));
    await newAccount(client, key, {
      termsOfServiceAgreed: true,
      externalAccountBinding: { kid: "kid-1", hmacKey },
    });
    const payload = payloadOf(ca.seen.find((r) => r.url === `${base}/acct`) as Seen) as {
      externalAccountBinding: { protected: string; payload: string };
    };
    const inner = JSON.parse(fromUtf8(fromBase64Url(payload.externalAccountBinding.protected)));
    expect(inner).toEqual({ alg: "HS256", kid: "kid-1", url: `${base}/acct` });
    expect(JSON.parse(fromUtf8(fromBase64Url(payload.externalAccountBinding.payload)))).toEqual(
      key.publicJwk,
    );
  });

  it("calls an answer without Location a protocol error, and reads the account by its URL", async () => {
    const noLocation = await clientFor({ "POST /acct": () => json({ status: "valid" }) });
    await expect(
      newAccount(noLocation.client, noLocation.key, { termsOfServiceAgreed: true }),
    ).rejects.toThrow("newAccount answered without the account URL (Location)");
    const { ca, client, signer, key } = await clientFor({
      "POST /acct/1": () => json({ status: "valid", orders: `${base}/acct/1/orders` }),
    });
    const read = await getAccount(client, signer);
    expect(read.resource.orders).toBe(`${base}/acct/1/orders`);
    expect(payloadOf(ca.seen.find((r) => r.url === `${base}/acct/1`) as Seen)).toBe("");
    await expect(getAccount(client, { key })).rejects.toThrow("no account URL to read");
  });
});

describe("orders (RFC 8555 §7.4)", () => {
  it("asks for the profile and the certificate replaced only when given", async () => {
    const { ca, client, signer } = await clientFor({});
    await newOrder(client, signer, { identifiers: order.identifiers });
    await newOrder(client, signer, {
      identifiers: order.identifiers,
      profile: "tlsserver",
      replaces: "AAA.BBB",
    });
    expect(ca.seen.filter((r) => r.url === `${base}/order`).map(payloadOf)).toEqual([
      { identifiers: order.identifiers },
      { identifiers: order.identifiers, profile: "tlsserver", replaces: "AAA.BBB" },
    ]);
  });

  it("says which profiles a CA offers when the one asked for is not among them", async () => {
    const none = await clientFor({ "/dir": () => json({ ...directory, meta: {} }) });
    await expect(
      newOrder(none.client, none.signer, { identifiers: order.identifiers, profile: "short" }),
    ).rejects.toThrow("the CA does not offer profile short (it offers none)");
    const some = await clientFor({});
    await expect(
      newOrder(some.client, some.signer, { identifiers: order.identifiers, profile: "short" }),
    ).rejects.toThrow("the CA does not offer profile short (it offers classic, tlsserver)");
  });

  it("finalizes with the CSR at the order's finalize URL, keeping the order's own URL", async () => {
    const { ca, client, signer } = await clientFor({
      "POST /order/1/finalize": () =>
        json({ ...order, status: "processing" }, { headers: { "retry-after": "2" } }),
    });
    const placed = await newOrder(client, signer, { identifiers: order.identifiers });
    const csr = new Uint8Array([1, 2, 3, 250]);
    const finalized = await finalizeOrder(client, signer, placed, csr);
    expect(finalized).toMatchObject({ url: `${base}/order/1`, resource: { status: "processing" } });
    expect(finalized.retryAfter).toBeInstanceOf(Date);
    expect(payloadOf(ca.seen.find((r) => r.url.endsWith("/finalize")) as Seen)).toEqual({
      csr: base64Url(csr),
    });
  });
});
