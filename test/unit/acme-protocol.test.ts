// Protocol details in tables: problem documents and their classes, Retry-After, Link, polling
// times, and the ARI certificate identifier of RFC 9773's own example.
import { describe, expect, it } from "vitest";
import { ariCertificateId, certificateIdOf } from "../../src/acme/ari";
import { parseLinks, parseRetryAfter } from "../../src/acme/http";
import { nextPollAt } from "../../src/acme/poll";
import {
  AcmeNetworkError,
  AcmeProblem,
  AcmeProtocolError,
  acmeErrorTypes,
  classifyError,
  parseProblem,
} from "../../src/acme/problem";
import { parseCertificate } from "../../src/pki/certificate";
import { certificatesFromPem } from "../../src/pki/pem";

describe("problem documents", () => {
  it("keeps everything a problem says, subproblems and their identifiers included", () => {
    const problem = parseProblem(
      {
        type: "urn:ietf:params:acme:error:compound",
        detail: "Some of the identifiers requested were rejected",
        status: 403,
        instance: "https://ca.example/docs/1",
        subproblems: [
          {
            type: "urn:ietf:params:acme:error:rejectedIdentifier",
            detail: "blocked",
            identifier: { type: "dns", value: "a.example" },
          },
          {
            type: "urn:ietf:params:acme:error:caa",
            identifier: { type: "dns", value: "b.example" },
          },
          "garbage",
          { detail: "no type" },
        ],
      },
      400,
      "https://ca.example/new-order",
    );
    expect(problem).toBeInstanceOf(AcmeProblem);
    expect(problem).toMatchObject({
      type: acmeErrorTypes.compound,
      errorName: "compound",
      detail: "Some of the identifiers requested were rejected",
      status: 403,
      instance: "https://ca.example/docs/1",
      url: "https://ca.example/new-order",
    });
    expect(problem.subproblems).toEqual([
      {
        type: acmeErrorTypes.rejectedIdentifier,
        detail: "blocked",
        identifier: { type: "dns", value: "a.example" },
      },
      {
        type: acmeErrorTypes.caa,
        detail: undefined,
        identifier: { type: "dns", value: "b.example" },
      },
    ]);
    expect(problem.is("compound")).toBe(true);
  });

  it.each([
    ["a 503 with no document", undefined, 503, acmeErrorTypes.serverInternal, "HTTP 503"],
    [
      "a 400 with an HTML page",
      "<html>Bad</html>",
      400,
      acmeErrorTypes.malformed,
      "<html>Bad</html>",
    ],
    [
      "a type it does not know",
      { type: "urn:example:error:odd", detail: "odd" },
      400,
      "urn:example:error:odd",
      "odd",
    ],
  ])("makes a problem of %s", (_, body, status, type, detail) => {
    const problem = parseProblem(body, status);
    expect(problem.type).toBe(type);
    expect(problem.detail).toBe(detail);
    expect(problem.status).toBe(status);
  });

  it.each([
    ["a 500 with null", null, 500, acmeErrorTypes.serverInternal, "HTTP 500"],
    ["a 499 with a number", 7, 499, acmeErrorTypes.malformed, "HTTP 499"],
    ["a long text", "x".repeat(600), 502, acmeErrorTypes.serverInternal, "x".repeat(500)],
  ])("makes a problem of %s", (_, body, status, type, detail) => {
    const problem = parseProblem(body, status);
    expect(problem).toMatchObject({ type, detail, status, instance: undefined });
    expect(problem.subproblems).toEqual([]);
  });

  it("keeps of a subproblem only what has the documented types", () => {
    const problem = parseProblem(
      {
        type: acmeErrorTypes.compound,
        instance: 42,
        subproblems: [
          null,
          7,
          { type: acmeErrorTypes.caa, detail: 5, identifier: null },
          { type: acmeErrorTypes.caa, identifier: "dns:a.example" },
          { type: acmeErrorTypes.caa, identifier: { type: 1, value: "a.example" } },
          { type: acmeErrorTypes.caa, identifier: { type: "dns", value: 1 } },
          { type: acmeErrorTypes.caa, identifier: { type: "dns" } },
        ],
      },
      403,
    );
    expect(problem.instance).toBeUndefined();
    expect(problem.subproblems).toEqual(
      Array.from({ length: 5 }, () => ({
        type: acmeErrorTypes.caa,
        detail: undefined,
        identifier: undefined,
      })),
    );
  });

  it("says what it is, in its name and its message", () => {
    const withDetail = new AcmeProblem(acmeErrorTypes.caa, "CAA forbids", 403);
    expect(withDetail.name).toBe("AcmeProblem");
    expect(withDetail.message).toBe(`${acmeErrorTypes.caa}: CAA forbids`);
    expect(withDetail.subproblems).toEqual([]);
    expect(new AcmeProblem(acmeErrorTypes.caa, "", 403).message).toBe(acmeErrorTypes.caa);
    const protocol = new AcmeProtocolError("no Location", "https://ca.example/x");
    expect([protocol.name, protocol.message]).toEqual([
      "AcmeProtocolError",
      "no Location (https://ca.example/x)",
    ]);
    expect(new AcmeProtocolError("no Location").message).toBe("no Location");
    const network = new AcmeNetworkError("down", "https://ca.example/x", false);
    expect([network.name, network.message]).toEqual([
      "AcmeNetworkError",
      "down (https://ca.example/x)",
    ]);
  });

  it("names every registered ACME error type", () => {
    for (const [name, type] of Object.entries(acmeErrorTypes)) {
      expect(type).toBe(`urn:ietf:params:acme:error:${name}`);
      expect(parseProblem({ type }, 400).errorName).toBe(name);
    }
    expect(Object.keys(acmeErrorTypes)).toHaveLength(32);
  });

  const later = new Date("2030-01-01T00:00:00Z");
  const problem = (name: keyof typeof acmeErrorTypes, status = 400, subproblems: string[] = []) =>
    new AcmeProblem(
      acmeErrorTypes[name],
      "",
      status,
      subproblems.map((type) => ({ type, detail: undefined, identifier: undefined })),
      undefined,
      later,
    );
  it.each([
    ["rateLimited", problem("rateLimited", 429), { kind: "rate_limited", retryAt: later }],
    ["serverInternal", problem("serverInternal", 500), { kind: "retryable" }],
    ["badNonce", problem("badNonce"), { kind: "retryable" }],
    ["any 5xx", problem("malformed", 503), { kind: "retryable" }],
    ["a 500 of a type it does not know", new AcmeProblem("urn:x", "", 500), { kind: "retryable" }],
    ["a 499", problem("malformed", 499), { kind: "terminal" }],
    ["a compound without subproblems", problem("compound", 403), { kind: "terminal" }],
    [
      "a refusal that carries subproblems",
      problem("rejectedIdentifier", 403, [acmeErrorTypes.rateLimited]),
      { kind: "terminal" },
    ],
    ["rejectedIdentifier", problem("rejectedIdentifier", 403), { kind: "terminal" }],
    ["caa", problem("caa", 403), { kind: "terminal" }],
    ["unauthorized", problem("unauthorized", 403), { kind: "terminal" }],
    [
      "compound with a rate limit",
      problem("compound", 403, [acmeErrorTypes.caa, acmeErrorTypes.rateLimited]),
      { kind: "rate_limited", retryAt: later },
    ],
    [
      "compound of server errors",
      problem("compound", 400, [acmeErrorTypes.serverInternal]),
      { kind: "retryable" },
    ],
    [
      "compound with a refusal",
      problem("compound", 400, [acmeErrorTypes.serverInternal, acmeErrorTypes.caa]),
      { kind: "terminal" },
    ],
    [
      "a network failure",
      new AcmeNetworkError("timed out", "https://ca.example", true),
      { kind: "retryable" },
    ],
    ["a protocol break", new AcmeProtocolError("no Location"), { kind: "retryable" }],
    ["a programming error", new TypeError("x is undefined"), { kind: "terminal" }],
  ])("classes %s", (_, error, expected) => {
    expect(classifyError(error)).toEqual(expected);
  });
});

describe("Retry-After", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  it.each([
    ["120", "2026-11-26T12:02:00.000Z"],
    ["0", "2026-11-26T12:00:00.000Z"],
    [" 30 ", "2026-11-26T12:00:30.000Z"],
    ["Thu, 26 Nov 2026 13:00:00 GMT", "2026-11-26T13:00:00.000Z"],
    ["Thursday, 26-Nov-26 13:00:00 GMT", "2026-11-26T13:00:00.000Z"],
    // asctime has no zone: it is GMT, wherever this runs.
    ["Thu Nov 26 13:00:00 2026", "2026-11-26T13:00:00.000Z"],
    ["26 Nov 2026 13:00:00 GMT", undefined],
    ["x Thursday, 26-Nov-26 13:00:00 GMT", undefined],
    ["-5", undefined],
    ["1.5", undefined],
    ["soon", undefined],
    ["2026-11-26T13:00:00Z", undefined],
    ["", undefined],
    [null, undefined],
  ])("reads %j", (value, expected) => {
    expect(parseRetryAfter(value, now)?.toISOString()).toBe(expected);
  });
});

describe("Link", () => {
  const base = "https://ca.example/acme/cert/1";
  it.each([
    ['<https://ca.example/dir>;rel="index"', [{ rel: "index", url: "https://ca.example/dir" }]],
    ["</acme/authz/1>;rel=up", [{ rel: "up", url: "https://ca.example/acme/authz/1" }]],
    [
      '<https://ca.example/cert/1/alt/1>;rel="alternate", <https://ca.example/cert/1/alt/2>; rel="alternate"',
      [
        { rel: "alternate", url: "https://ca.example/cert/1/alt/1" },
        { rel: "alternate", url: "https://ca.example/cert/1/alt/2" },
      ],
    ],
    [
      '<https://ca.example/dir>; rel="index up"',
      [
        { rel: "index", url: "https://ca.example/dir" },
        { rel: "up", url: "https://ca.example/dir" },
      ],
    ],
    ["not a link header", []],
    ['<https://ca.example/x>; rel=" next"', [{ rel: "next", url: "https://ca.example/x" }]],
    ["<http://[bad>; rel=next", []],
    ["", []],
  ])("reads %j", (value, expected) => {
    expect(parseLinks(value, base)).toEqual(expected);
  });
});

describe("poll timing", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  const policy = { firstDelayMs: 1000, maxDelayMs: 8000 };
  it.each([
    [0, undefined, "2026-11-26T12:00:01.000Z"],
    [1, undefined, "2026-11-26T12:00:02.000Z"],
    [3, undefined, "2026-11-26T12:00:08.000Z"],
    [10, undefined, "2026-11-26T12:00:08.000Z"],
    [0, new Date("2026-11-26T12:05:00Z"), "2026-11-26T12:05:00.000Z"],
    [5, new Date("2026-11-26T11:00:00Z"), "2026-11-26T12:00:00.000Z"],
  ])("looks again after poll %i (Retry-After %s) at %s", (attempt, retryAfter, expected) => {
    expect(nextPollAt(now, attempt, retryAfter, policy).toISOString()).toBe(expected);
  });
});

// RFC 9773 Appendix A: the example certificate and its identifier.
const rfc9773Certificate = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----`;

describe("ARI certificate identifier", () => {
  it("matches RFC 9773's example, from the certificate itself", () => {
    const [der] = certificatesFromPem(rfc9773Certificate);
    expect(certificateIdOf(der as Uint8Array)).toBe("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    const info = parseCertificate(der as Uint8Array);
    expect(info).toMatchObject({
      serialHex: "87654321",
      subjectCommonName: "example.com",
      issuerCommonName: "Example CA",
    });
  });

  it("keeps the serial's leading zero, as the DER encoding has it", () => {
    const aki = new Uint8Array([
      0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0, 0xae,
      0x2c, 0xde, 0x01, 0xc8, 0xd4,
    ]);
    expect(ariCertificateId(aki, new Uint8Array([0x00, 0x87, 0x65, 0x43, 0x21]))).toBe(
      "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    );
  });
});
