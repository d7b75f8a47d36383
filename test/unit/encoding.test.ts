// The byte encodings, against the runtime's own codecs: base64url both ways for any bytes, UTF-8
// both ways for any text (ASCII and not, short and long), and clear refusals of what is not
// base64url.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  asciiInto,
  base64,
  base64Url,
  EncodingError,
  fromBase64,
  fromBase64Url,
  fromBase64UrlInto,
  fromUtf8,
  utf8,
} from "../../src/util/encoding";

const reference = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

describe("base64url", () => {
  it("encodes any bytes as the runtime's base64 does, URL-safe and unpadded, and back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = base64Url(bytes);
        expect(text).toBe(reference(bytes));
        expect(fromBase64Url(text)).toEqual(bytes);
      }),
    );
  });

  it.each([
    ["a character outside the alphabet", "ab+d"],
    ["padding", "YQ=="],
    ["an impossible length", "abcde"],
    ["non-ASCII", "abcé"],
  ])("refuses %s", (_, text) => {
    expect(() => fromBase64Url(text)).toThrow(EncodingError);
  });

  it("decodes into a reused buffer, saying how many bytes it wrote, and refuses what does not fit", () => {
    const out = new Uint8Array(8).fill(0xee);
    expect(fromBase64UrlInto("AQID", out)).toBe(3);
    expect(out).toEqual(Uint8Array.of(1, 2, 3, 0xee, 0xee, 0xee, 0xee, 0xee));
    expect(() => fromBase64UrlInto(base64Url(new Uint8Array(9)), out)).toThrow(EncodingError);
  });

  it("keeps standard base64 for PEM and key rings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(fromBase64(base64(bytes))).toEqual(bytes);
      }),
    );
  });
});

describe("UTF-8", () => {
  it("encodes and decodes any text as TextEncoder and TextDecoder do", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.string({ unit: "grapheme", maxLength: 40 }),
          fc.string({ minLength: 1000, maxLength: 1100 }),
        ),
        (text) => {
          const bytes = utf8(text);
          expect(bytes).toEqual(new TextEncoder().encode(text));
          expect(fromUtf8(bytes)).toBe(new TextDecoder().decode(bytes));
        },
      ),
    );
  });

  it("writes ASCII into a buffer at an offset, and declines other text or text that does not fit", () => {
    const out = new Uint8Array(6);
    expect(asciiInto("ab|", out, 1)).toBe(4);
    expect(Array.from(out.subarray(1, 4), (b) => String.fromCharCode(b)).join("")).toBe("ab|");
    expect(asciiInto("é", out, 0)).toBe(-1);
    expect(asciiInto("abcdefg", out, 0)).toBe(-1);
    expect(asciiInto("abc", out, 4)).toBe(-1);
  });

  it("decodes malformed bytes as the runtime does", () => {
    const malformed = Uint8Array.of(0x61, 0xc3, 0x28, 0xff, 0x62);
    expect(fromUtf8(malformed)).toBe(new TextDecoder().decode(malformed));
  });
});
