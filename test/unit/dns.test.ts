// DNS handling against whatever a resolver may send: real answers built with the DNS packet
// library, and garbage, truncation, wrong answers, errors and silence.
import * as dnsPacket from "@dnsquery/dns-packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { followCnameChain, maxCnameHops } from "../../src/dns/cname";
import {
  createDohResolver,
  type DnsAnswer,
  DnsQueryError,
  type DnsRecordType,
  type DnsResolver,
} from "../../src/dns/doh";
import { judgeCnameChain } from "../../src/domains/verification";

type Answer = dnsPacket.Answer;

function responseMessage(options: {
  name?: string;
  type?: DnsRecordType;
  rcode?: number;
  answers?: Answer[];
  qr?: boolean;
}): Uint8Array {
  return dnsPacket.encode({
    type: options.qr === false ? "query" : "response",
    id: 0,
    flags:
      (options.qr === false ? 0 : 0x8000) |
      dnsPacket.RECURSION_DESIRED |
      dnsPacket.RECURSION_AVAILABLE |
      (options.rcode ?? 0),
    questions: [{ name: options.name ?? "track.example.com", type: options.type ?? "CNAME" }],
    answers: options.answers ?? [],
  });
}

const dnsResponse = (body: Uint8Array | string, init: ResponseInit = {}): Response =>
  new Response(body, {
    status: 200,
    headers: { "content-type": "application/dns-message" },
    ...init,
  });

function resolverAnswering(
  respond: (request: Request) => Response | Promise<Response>,
  timeoutMs = 2000,
): DnsResolver {
  const fakeFetch = async (input: RequestInfo | URL, init?: RequestInit) =>
    respond(new Request(input, init));
  return createDohResolver({
    url: "https://doh.example/dns-query",
    timeoutMs,
    fetch: fakeFetch as typeof fetch,
  });
}

async function failureOf(promise: Promise<DnsAnswer>): Promise<DnsQueryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DnsQueryError);
  return error as DnsQueryError;
}

describe("DoH client", () => {
  it("sends an RFC 8484 GET with id 0 and reads the answer", async () => {
    let sent: Request | undefined;
    const resolver = resolverAnswering((request) => {
      sent = request;
      return dnsResponse(
        responseMessage({
          answers: [
            { type: "CNAME", name: "Track.Example.com.", ttl: 60, data: "V2.Endpoint.test." },
          ],
        }),
      );
    });
    const answer = await resolver.query("TRACK.example.com.", "CNAME");
    expect(answer).toEqual({
      rcode: "NOERROR",
      answers: [{ name: "track.example.com", type: "CNAME", ttl: 60, data: "v2.endpoint.test" }],
    });
    expect(sent?.method).toBe("GET");
    expect(sent?.headers.get("accept")).toBe("application/dns-message");
    const query = new URL(sent?.url ?? "").searchParams.get("dns") ?? "";
    expect(query).not.toMatch(/[+/=]/);
    const decoded = dnsPacket.decode(
      Uint8Array.from(atob(query.replaceAll("-", "+").replaceAll("_", "/")), (c) =>
        c.charCodeAt(0),
      ),
    );
    expect(decoded).toMatchObject({
      id: 0,
      flag_rd: true,
      questions: [{ name: "track.example.com", type: "CNAME" }],
    });
  });

  it("tells NXDOMAIN from a name with no records of the type", async () => {
    const nx = resolverAnswering(() => dnsResponse(responseMessage({ rcode: 3 })));
    expect(await nx.query("track.example.com", "CNAME")).toEqual({
      rcode: "NXDOMAIN",
      answers: [],
    });
    const nodata = resolverAnswering(() => dnsResponse(responseMessage({})));
    expect(await nodata.query("track.example.com", "CNAME")).toEqual({
      rcode: "NOERROR",
      answers: [],
    });
  });

  it.each([
    ["SERVFAIL", () => dnsResponse(responseMessage({ rcode: 2 })), "servfail"],
    ["REFUSED", () => dnsResponse(responseMessage({ rcode: 5 })), "refused"],
    ["NOTIMP", () => dnsResponse(responseMessage({ rcode: 4 })), "rcode"],
    ["HTTP 502", () => new Response("bad gateway", { status: 502 }), "http_status"],
    [
      "an HTML page",
      () => new Response("<html>", { headers: { "content-type": "text/html" } }),
      "malformed",
    ],
    ["garbage bytes", () => dnsResponse(new Uint8Array([1, 2, 3, 4, 5])), "malformed"],
    [
      "a query instead of a response",
      () => dnsResponse(responseMessage({ qr: false })),
      "malformed",
    ],
    [
      "an answer to another name",
      () => dnsResponse(responseMessage({ name: "evil.example.net" })),
      "malformed",
    ],
    ["an answer to another type", () => dnsResponse(responseMessage({ type: "A" })), "malformed"],
    ["an endless body", () => dnsResponse(new Uint8Array(70_000)), "malformed"],
    [
      "a body longer than it may be, declared",
      () =>
        dnsResponse(new Uint8Array(10), {
          headers: { "content-type": "application/dns-message", "content-length": "100000" },
        }),
      "malformed",
    ],
    ["a refused connection", () => Promise.reject(new TypeError("connection refused")), "network"],
  ])("reports %s as a %s failure", async (_, respond, kind) => {
    const error = await failureOf(resolverAnswering(respond).query("track.example.com", "CNAME"));
    expect(error.kind).toBe(kind);
    expect(error.message).toContain("CNAME track.example.com");
  });

  it("gives up on a silent resolver after its timeout", async () => {
    const silent = resolverAnswering(
      (request) =>
        new Promise<Response>((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        }),
      50,
    );
    const started = Date.now();
    const error = await failureOf(silent.query("track.example.com", "CNAME"));
    expect(error.kind).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("turns any bytes at all into an answer or a DnsQueryError, never anything else", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const resolver = resolverAnswering(() => dnsResponse(bytes));
        const outcome = await resolver.query("track.example.com", "CNAME").then(
          (answer) => answer,
          (error: unknown) => error,
        );
        if (outcome instanceof DnsQueryError) return;
        expect(outcome).toMatchObject({ rcode: expect.stringMatching(/^(NOERROR|NXDOMAIN)$/) });
      }),
      { numRuns: 1000 },
    );
  });

  it("reports every truncation of a real answer as malformed", async () => {
    const full = responseMessage({
      answers: [
        { type: "CNAME", name: "track.example.com", ttl: 60, data: "a.example.net" },
        { type: "CNAME", name: "a.example.net", ttl: 60, data: "v2.endpoint.test" },
      ],
    });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: full.length - 1 }), async (length) => {
        const resolver = resolverAnswering(() => dnsResponse(full.slice(0, length)));
        const error = await failureOf(resolver.query("track.example.com", "CNAME"));
        expect(error.kind).toBe("malformed");
      }),
    );
  });
});

/** A resolver over a fixed table of CNAMEs; names absent from `exists` are NXDOMAIN. */
function tableResolver(cnames: Record<string, string>, exists: string[] = []): DnsResolver {
  return {
    async query(name) {
      const target = cnames[name];
      if (target !== undefined)
        return { rcode: "NOERROR", answers: [{ name, type: "CNAME", ttl: 0, data: target }] };
      return { rcode: exists.includes(name) ? "NOERROR" : "NXDOMAIN", answers: [] };
    },
  };
}

describe("followCnameChain", () => {
  const stop = new Set(["v2.endpoint.test"]);
  it.each([
    [
      "one hop to the target",
      { "t.a.com": "v2.endpoint.test" },
      [],
      ["t.a.com", "v2.endpoint.test"],
      "target_reached",
    ],
    [
      "two hops to the target",
      { "t.a.com": "cdn.b.net", "cdn.b.net": "v2.endpoint.test" },
      [],
      ["t.a.com", "cdn.b.net", "v2.endpoint.test"],
      "target_reached",
    ],
    ["no CNAME at all", {}, ["t.a.com"], ["t.a.com"], "no_cname"],
    ["a name that does not exist", {}, [], ["t.a.com"], "nxdomain"],
    [
      "a CNAME to a name that does not exist",
      { "t.a.com": "gone.b.net" },
      [],
      ["t.a.com", "gone.b.net"],
      "nxdomain",
    ],
    [
      "a CNAME elsewhere",
      { "t.a.com": "other.b.net" },
      ["other.b.net"],
      ["t.a.com", "other.b.net"],
      "no_cname",
    ],
    [
      "a loop",
      { "t.a.com": "x.b.net", "x.b.net": "t.a.com" },
      [],
      ["t.a.com", "x.b.net", "t.a.com"],
      "loop",
    ],
  ] as const)("follows %s", async (_, cnames, exists, chain, end) => {
    expect(await followCnameChain(tableResolver(cnames, [...exists]), "t.a.com", stop)).toEqual({
      chain,
      end,
    });
  });

  it(`stops after ${maxCnameHops} hops`, async () => {
    const cnames = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`h${i}.a.com`, `h${i + 1}.a.com`]),
    );
    const result = await followCnameChain(tableResolver(cnames), "h0.a.com", stop);
    expect(result.end).toBe("too_long");
    expect(result.chain.length).toBe(maxCnameHops + 1);
  });

  it("walks several hops from one answer without asking again", async () => {
    let queries = 0;
    const resolver: DnsResolver = {
      async query(name) {
        queries += 1;
        return {
          rcode: "NOERROR",
          answers: [
            { name, type: "CNAME", ttl: 0, data: "cdn.b.net" },
            { name: "cdn.b.net", type: "CNAME", ttl: 0, data: "v2.endpoint.test" },
          ],
        };
      },
    };
    expect((await followCnameChain(resolver, "t.a.com", stop)).end).toBe("target_reached");
    expect(queries).toBe(1);
  });
});

describe("judgeCnameChain", () => {
  const endpoints = { v2: "v2.endpoint.test", standard: "endpoint.test" };
  it.each([
    [
      { chain: ["t.a.com", "v2.endpoint.test"], end: "target_reached" },
      [],
      "valid",
      "v2",
      null,
      "reaches the V2 endpoint",
    ],
    [
      { chain: ["t.a.com", "endpoint.test"], end: "target_reached" },
      [],
      "valid",
      "standard",
      "dns:standard_endpoint",
      "HTTP only",
    ],
    [
      { chain: ["t.a.com"], end: "nxdomain" },
      [],
      "invalid",
      null,
      "dns:cname_missing",
      "does not exist in DNS (NXDOMAIN)",
    ],
    [
      { chain: ["t.a.com"], end: "no_cname" },
      ["203.0.113.7"],
      "invalid",
      null,
      "dns:cname_missing",
      "A record(s) 203.0.113.7",
    ],
    [
      { chain: ["t.a.com", "other.b.net"], end: "no_cname" },
      [],
      "invalid",
      null,
      "dns:cname_mismatch",
      "ends at other.b.net",
    ],
    [
      { chain: ["t.a.com", "eu.v2.endpoint.test"], end: "target_reached" },
      [],
      "invalid",
      null,
      "dns:cname_mismatch",
      "another region",
    ],
    [
      { chain: ["t.a.com", "x.b.net", "t.a.com"], end: "loop" },
      [],
      "invalid",
      null,
      "dns:cname_mismatch",
      "loops",
    ],
  ] as const)("judges %j", (found, addresses, cnameStatus, endpoint, errorCode, detail) => {
    const verdict = judgeCnameChain(
      "t.a.com",
      { chain: [...found.chain], end: found.end },
      endpoints,
      addresses,
    );
    expect(verdict).toMatchObject({
      cnameStatus,
      endpoint,
      errorCode,
      expected: "v2.endpoint.test",
    });
    expect(verdict.detail).toContain(detail);
    if (errorCode) {
      expect(verdict.actionBy).toBe("customer");
      expect(verdict.fix).toContain("v2.endpoint.test");
    }
  });
});
