// The ACME client's HTTP layer on its own: what it sends, when it tries again and how long it
// waits, what it calls a timeout, and what it makes of Location and Link headers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Transport } from "../../src/acme/http";
import { AcmeNetworkError, AcmeProtocolError } from "../../src/acme/problem";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
  redirect: RequestInit["redirect"];
}

/** A fetch answering from `answers` in turn (the last one again when they run out). */
function scripted(...answers: Array<() => Response | Promise<Response>>) {
  const sent: Sent[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    sent.push({
      method: init?.method ?? "GET",
      url: String(input),
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body: typeof init?.body === "string" ? init.body : null,
      redirect: init?.redirect,
    });
    const answer = answers[Math.min(sent.length, answers.length) - 1];
    if (!answer) throw new Error("no answer scripted");
    return answer();
  };
  return { fetch: fetch as typeof globalThis.fetch, sent };
}

const ok = () => new Response("{}", { status: 200 });
const busy =
  (status = 503) =>
  () =>
    new Response("busy", { status });
const refused = () => Promise.reject(new TypeError("connection refused"));
const url = "https://ca.example/acme/thing";

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("what the transport sends", () => {
  it("names itself, asks for manual redirects, and sends accept, content type and body only when given", async () => {
    const { fetch, sent } = scripted(ok);
    const transport = new Transport({ fetch });
    await transport.request("GET", url);
    await transport.request("POST", url, {
      body: "{}",
      accept: "application/pem-certificate-chain",
      contentType: "application/jose+json",
    });
    expect(sent[0]).toEqual({
      method: "GET",
      url,
      headers: { "user-agent": "tracking-edge-acme/0.1" },
      body: null,
      redirect: "manual",
    });
    expect(sent[1]).toEqual({
      method: "POST",
      url,
      headers: {
        "user-agent": "tracking-edge-acme/0.1",
        accept: "application/pem-certificate-chain",
        "content-type": "application/jose+json",
      },
      body: "{}",
      redirect: "manual",
    });
  });

  it("uses the user agent it is given", async () => {
    const { fetch, sent } = scripted(ok);
    await new Transport({ fetch, userAgent: "sender/2" }).request("GET", url);
    expect(sent[0]?.headers["user-agent"]).toBe("sender/2");
  });

  it("uses the platform's fetch when given none", async () => {
    const { fetch, sent } = scripted(ok);
    vi.stubGlobal("fetch", fetch);
    const result = await new Transport().request("GET", url);
    expect(result.status).toBe(200);
    expect(sent).toHaveLength(1);
  });

  it("reads no body for HEAD, whatever the server sends", async () => {
    const { fetch } = scripted(() => new Response("ignored", { status: 200 }));
    const result = await new Transport({ fetch }).request("HEAD", url);
    expect(result.body).toHaveLength(0);
    const get = await new Transport({ fetch }).request("GET", url);
    expect(new TextDecoder().decode(get.body)).toBe("ignored");
  });

  it("resolves Location against the request, and drops one that is no URL", async () => {
    const { fetch } = scripted(
      () => new Response(null, { status: 201, headers: { location: "/acme/order/7" } }),
      () => new Response(null, { status: 201, headers: { location: "http://[bad" } }),
    );
    const transport = new Transport({ fetch });
    expect((await transport.request("POST", url)).location).toBe("https://ca.example/acme/order/7");
    expect((await transport.request("POST", url)).location).toBeUndefined();
  });
});

describe("trying again", () => {
  it("tries a GET that keeps failing with a 5xx three times in all, then returns the last answer", async () => {
    const { fetch, sent } = scripted(busy(500));
    const result = await new Transport({ fetch, getRetryDelaysMs: [0, 0] }).request("GET", url);
    expect(result.status).toBe(500);
    expect(sent).toHaveLength(3);
  });

  it("takes the answer after a 5xx, and does not try again after a 4xx", async () => {
    const { fetch, sent } = scripted(busy(502), ok);
    const transport = new Transport({ fetch, getRetryDelaysMs: [0, 0] });
    expect((await transport.request("GET", url)).status).toBe(200);
    const notFound = scripted(busy(404), ok);
    const once = new Transport({ fetch: notFound.fetch, getRetryDelaysMs: [0, 0] });
    expect((await once.request("GET", url)).status).toBe(404);
    expect(sent).toHaveLength(2);
    expect(notFound.sent).toHaveLength(1);
  });

  it("tries a GET again after a network error, as many times as it is told", async () => {
    const recovering = scripted(refused, ok);
    const transport = new Transport({ fetch: recovering.fetch, getRetryDelaysMs: [0, 0] });
    expect((await transport.request("GET", url)).status).toBe(200);
    expect(recovering.sent).toHaveLength(2);

    const down = scripted(refused);
    const error = await new Transport({ fetch: down.fetch, getRetries: 1, getRetryDelaysMs: [0] })
      .request("HEAD", url)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect(down.sent).toHaveLength(2);
  });

  it("never tries a POST twice", async () => {
    const { fetch, sent } = scripted(busy(503));
    const result = await new Transport({ fetch, getRetryDelaysMs: [0, 0] }).request("POST", url);
    expect(result.status).toBe(503);
    const down = scripted(refused);
    await expect(new Transport({ fetch: down.fetch }).request("POST", url)).rejects.toThrow(
      AcmeNetworkError,
    );
    expect(sent).toHaveLength(1);
    expect(down.sent).toHaveLength(1);
  });

  it("waits the delays it is given between attempts", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    const { fetch, sent } = scripted(busy(503));
    const done = new Transport({ fetch, getRetryDelaysMs: [30, 60] }).request("GET", url);
    await vi.advanceTimersByTimeAsync(29);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(59);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(3);
    expect((await done).status).toBe(503);
  });

  it("waits 200 ms and then 1 s by default, and 1 s past the delays it is given", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout"] });
    const { fetch, sent } = scripted(refused);
    const done = new Transport({ fetch }).request("GET", url).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(199);
    expect(sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent).toHaveLength(3);
    expect(await done).toBeInstanceOf(AcmeNetworkError);

    const short = scripted(busy(503));
    const shortDone = new Transport({ fetch: short.fetch, getRetryDelaysMs: [] }).request(
      "GET",
      url,
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(short.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(short.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect((await shortDone).status).toBe(503);
  });
});

describe("failures", () => {
  it("calls a request that fails at once a network error that did not time out", async () => {
    const { fetch } = scripted(refused);
    const error = (await new Transport({ fetch })
      .request("POST", url)
      .catch((e: unknown) => e)) as AcmeNetworkError;
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect(error.message).toBe(`request failed: connection refused (${url})`);
    expect(error.timedOut).toBe(false);
  });

  it("calls a request that outlives its deadline a timeout, naming the deadline", async () => {
    const fetch = ((_: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      )) as typeof globalThis.fetch;
    const error = (await new Transport({ fetch, timeoutMs: 20 })
      .request("POST", url)
      .catch((e: unknown) => e)) as AcmeNetworkError;
    expect(error).toBeInstanceOf(AcmeNetworkError);
    expect(error.message).toBe(`no complete answer within 20 ms (${url})`);
    expect(error.timedOut).toBe(true);
  });

  it("refuses a body larger than its bound as a protocol error", async () => {
    const { fetch } = scripted(() => new Response("x".repeat(100)));
    const error = await new Transport({ fetch, maxResponseBytes: 10 })
      .request("POST", url)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProtocolError);
    expect((error as Error).message).toBe(`the response is larger than 10 bytes (${url})`);
  });
});
