// The edge-pull endpoint as a TLS terminator meets it: a bearer token compared in constant time,
// nothing at all without it or on a tracking host, the change feed in order with a cursor, and
// 404s for names that serve nothing. (Fetching a real certificate and key through it, with a TLS
// handshake on top, is the end-to-end test test/e2e/tls-edge.test.ts.)
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { edgePullDeployer } from "../../src/deploy/edge-pull";
import worker from "../../workers/edge";
import { type ErrorBody, newAccount } from "./helpers";

const token = () => env.EDGE_PULL_TOKEN;

const pull = (
  path: string,
  authorization: string | null = `Bearer ${token()}`,
  host = "localhost",
) =>
  SELF.fetch(`http://${host}/internal/v1${path}`, {
    headers: authorization === null ? {} : { authorization },
  });

interface ChangesBody {
  results: {
    changes: { cursor: number; domain: string; change: string; serial: string | null }[];
    cursor: number;
    more: boolean;
    reset: boolean;
  };
}

const changes = async (query: string) => {
  const response = await pull(`/certificates${query}`);
  expect(response.status).toBe(200);
  return (await response.json<ChangesBody>()).results;
};

describe("edge pull endpoint", () => {
  it("refuses a request without the token, saying what to send", async () => {
    const response = await pull("/certificates", null);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("Bearer");
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "Authorization: Bearer",
    );
  });

  it.each([
    ["a wrong token of the same length", () => `Bearer ${"x".repeat(token().length)}`],
    [
      "the token with one character changed",
      () => `Bearer ${token().slice(0, -1)}${token().endsWith("a") ? "b" : "a"}`,
    ],
    ["a prefix of the token", () => `Bearer ${token().slice(0, 10)}`],
    ["the token without the Bearer scheme", () => token()],
  ])("refuses %s", async (_, header) => {
    const response = await pull("/certificates/any.example.com", header());
    expect(response.status).toBe(401);
    const body = await response.text();
    expect(body).toContain("unauthorized");
    expect(body).not.toContain("private_key");
  });

  it("is switched off (503) when EDGE_PULL_TOKEN is unset or too short to be safe", async () => {
    for (const configured of ["", "short-token"]) {
      const response = await worker.fetch(
        new Request<unknown, IncomingRequestCfProperties>(
          "http://localhost/internal/v1/certificates",
          { headers: { authorization: `Bearer ${configured}` } },
        ),
        { ...env, EDGE_PULL_TOKEN: configured },
        createExecutionContext(),
      );
      expect(response.status).toBe(503);
      expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
        "EDGE_PULL_TOKEN",
      );
    }
  });

  it("never answers on a tracking host, even with the right token", async () => {
    const account = await newAccount();
    const domain = `pull-${crypto.randomUUID().slice(0, 8)}.shop.test`;
    expect((await account.call("POST", "/tracking-domains", { body: { domain } })).status).toBe(
      200,
    );
    for (const path of ["/certificates", `/certificates/${domain}`]) {
      const response = await pull(path, `Bearer ${token()}`, domain);
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain("certificate_chain");
    }
  });

  it("refuses a relay for an API host (421): the edge relays tracking domains only", async () => {
    // A production-like API host (the local ones have no dot, which a relayed host must have).
    const production = { ...env, API_HOSTNAMES: "api.track-endpoint.test,localhost" };
    const relay = (token: string) =>
      new Request<unknown, IncomingRequestCfProperties>(
        "https://origin.track-endpoint.test/api/v1/tracking-domains",
        {
          headers: {
            "x-tracking-edge-token": token,
            "x-tracking-edge-host": "api.track-endpoint.test",
            "x-tracking-edge-client": "203.0.113.9",
            "x-tracking-edge-proto": "https",
          },
        },
      );
    const refused = await worker.fetch(relay(token()), production, createExecutionContext());
    expect(refused.status).toBe(421);
    // Without the token it is no relay at all: the headers mean nothing, and the request is
    // answered for the host it was sent to (none of ours here).
    const plain = await worker.fetch(relay("x".repeat(43)), production, createExecutionContext());
    expect(plain.status).toBe(404);
  });

  it("answers 404 for a domain that is unknown or serves no certificate", async () => {
    const account = await newAccount();
    const domain = `nocert-${crypto.randomUUID().slice(0, 8)}.shop.test`;
    await account.call("POST", "/tracking-domains", { body: { domain, secure: false } });
    for (const name of [domain, "unknown.example.com"]) {
      const response = await pull(`/certificates/${name}`);
      expect(response.status).toBe(404);
      expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(name);
    }
  });

  it("lists deployments and removals after a cursor, in order, a page at a time", async () => {
    const start = (await changes("")).cursor;
    const deployer = edgePullDeployer(env.DB);
    await deployer.deploy({
      domain: "a.feed.test",
      serial: "0a",
      chainPem: "",
      privateKeyPem: async () => {
        throw new Error("the edge-pull deployer never opens the key");
      },
    });
    await deployer.remove("b.feed.test");

    const all = await changes(`?since=${start}`);
    expect(all.changes.map(({ domain, change, serial }) => ({ domain, change, serial }))).toEqual([
      { domain: "a.feed.test", change: "deployed", serial: "0a" },
      { domain: "b.feed.test", change: "removed", serial: null },
    ]);
    expect(all.more).toBe(false);
    expect(all.reset).toBe(false);

    const first = await changes(`?since=${start}&limit=1`);
    expect(first.changes.map((c) => c.domain)).toEqual(["a.feed.test"]);
    expect(first.more).toBe(true);
    const second = await changes(`?since=${first.cursor}&limit=1`);
    expect(second.changes.map((c) => c.domain)).toEqual(["b.feed.test"]);
    expect(second.cursor).toBe(all.cursor);
    expect((await changes(`?since=${all.cursor}`)).changes).toEqual([]);
  });

  it("tells an edge whose cursor this feed never gave out to start over", async () => {
    const { cursor } = await changes("");
    const ahead = await changes(`?since=${cursor + 1000}`);
    expect(ahead).toMatchObject({ changes: [], reset: true, cursor });
  });

  it.each(["-1", "abc", "1.5"])("refuses since=%s naming the parameter", async (since) => {
    const response = await pull(`/certificates?since=${since}`);
    expect(response.status).toBe(400);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({ param: "since" });
  });
});
