// Domain name rules: a table of the cases people hit, and properties over generated names.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeDomainName } from "../../src/domains/name";

const options = { extraPublicSuffixes: ["test"] };

describe("normalizeDomainName", () => {
  it.each([
    ["track.example.com", "track.example.com", "example.com"],
    ["TRACK.Example.COM.", "track.example.com", "example.com"],
    ["  track.example.com  ", "track.example.com", "example.com"],
    ["track.example.co.uk", "track.example.co.uk", "example.co.uk"],
    ["a.b.track.example.com", "a.b.track.example.com", "example.com"],
    ["track.bücher.de", "track.xn--bcher-kva.de", "xn--bcher-kva.de"],
    ["ＴＲＡＣＫ．ｅｘａｍｐｌｅ．ｃｏｍ", "track.example.com", "example.com"],
    ["track.xn--bcher-kva.de", "track.xn--bcher-kva.de", "xn--bcher-kva.de"],
    ["track.myshop.github.io", "track.myshop.github.io", "myshop.github.io"],
    ["track.shop.test", "track.shop.test", "shop.test"],
    ["1track.9example.com", "1track.9example.com", "9example.com"],
    ["0xa.aa.com", "0xa.aa.com", "aa.com"],
  ])("accepts %j as %s (registrable %s)", (input, domain, registrable) => {
    expect(normalizeDomainName(input, options)).toEqual({
      ok: true,
      domain,
      registrableDomain: registrable,
      publicSuffix: registrable.split(".").slice(1).join("."),
    });
  });

  it.each([
    ["", "empty"],
    ["   ", "empty"],
    ["example.com", "apex"],
    ["myshop.github.io", "apex"],
    ["shop.hk.com", "apex"],
    ["com", "single_label"],
    ["github.io", "public_suffix"],
    ["co.uk", "public_suffix"],
    ["test", "single_label"],
    ["10.0.0.1", "ip_address"],
    ["0x7f.1", "ip_address"],
    ["::1", "ip_address"],
    ["track.example.com:443", "ip_address"],
    ["track.123", "ip_address"],
    ["0x7f.0x1", "ip_address"],
    ["track.0xff", "ip_address"],
    ["*.example.com", "wildcard"],
    ["http://track.example.com", "invalid_characters"],
    ["track.example.com/x", "invalid_characters"],
    ["tr%61ck.example.com", "invalid_characters"],
    ["tr@ck.example.com", "invalid_characters"],
    ["_dmarc.example.com", "invalid_characters"],
    ["track..example.com", "empty_label"],
    [".track.example.com", "empty_label"],
    ["track.example.com..", "empty_label"],
    ["-track.example.com", "invalid_label"],
    ["track-.example.com", "invalid_label"],
    ["ab--track.example.com", "invalid_label"],
    ["xn--zz.example.com", "invalid_idn"],
    [`${"a".repeat(64)}.example.com`, "label_too_long"],
    [`${"a.".repeat(130)}example.com`, "too_long"],
    ["x".repeat(5000), "too_long"],
    ["track.example.internal", "unknown_suffix"],
  ])("refuses %j (%s)", (input, code) => {
    const result = normalizeDomainName(input, options);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problem.code).toBe(code);
      expect(result.problem.message.length).toBeGreaterThan(10);
    }
  });

  it("accepts .test names only when told to", () => {
    expect(normalizeDomainName("track.shop.test").ok).toBe(false);
    expect(normalizeDomainName("track.shop.test", options).ok).toBe(true);
  });
});

const letterOrDigit = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789");
const label = fc
  .tuple(
    letterOrDigit,
    fc.array(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-"), { maxLength: 20 }),
    letterOrDigit,
  )
  .map(([first, middle, last]) => `${first}${middle.join("")}${last}`)
  .filter((l) => l.slice(2, 4) !== "--");
// Under example.com: not itself a public suffix, so nothing below it is one either (unlike .com,
// where private-section suffixes such as hk.com make some three-label names registrable domains).
const hostUnderExample = fc
  .array(label, { minLength: 1, maxLength: 4 })
  .map((labels) => `${labels.join(".")}.example.com`);

describe("normalizeDomainName, for any name", () => {
  it("accepts every subdomain of example.com as itself, and is idempotent", () => {
    fc.assert(
      fc.property(hostUnderExample, (name) => {
        const result = normalizeDomainName(name, options);
        expect(result).toMatchObject({ ok: true, domain: name });
        if (result.ok) expect(normalizeDomainName(result.domain, options)).toEqual(result);
      }),
    );
  });

  it("ignores letter case, surrounding spaces and one trailing dot", () => {
    fc.assert(
      fc.property(hostUnderExample, fc.boolean(), fc.boolean(), (name, dot, spaces) => {
        const variant = `${spaces ? " " : ""}${name.toUpperCase()}${dot ? "." : ""}${spaces ? " " : ""}`;
        expect(normalizeDomainName(variant, options)).toEqual(normalizeDomainName(name, options));
      }),
    );
  });

  it("never throws, and whatever it accepts is a well-formed, bounded, proper subdomain", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: "grapheme", maxLength: 80 }),
          hostUnderExample,
        ),
        (input) => {
          const result = normalizeDomainName(input, options);
          if (!result.ok) {
            expect(result.problem.message).not.toBe("");
            return;
          }
          expect(result.domain.length).toBeLessThanOrEqual(253);
          expect(result.domain).toMatch(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]+$/);
          expect(result.domain.endsWith(`.${result.registrableDomain}`)).toBe(true);
          expect(result.registrableDomain.endsWith(`.${result.publicSuffix}`)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("refuses every IPv4 address", () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(normalizeDomainName(ip, options)).toMatchObject({
          ok: false,
          problem: { code: "ip_address" },
        });
      }),
    );
  });
});
