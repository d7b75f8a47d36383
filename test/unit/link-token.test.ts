// Link tokens verified one after another, as an isolate does with its reused HMAC state and
// buffers: every genuine token gives back exactly its content, whatever came before it, and no
// changed character (in the payload or the MAC, including a MAC spelled non-canonically) passes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type LinkContent,
  mintToken,
  parseSigningRing,
  verifyToken,
} from "../../src/tracking/link-token";
import { base64UrlMatches } from "../../src/util/constant-time";
import { base64, base64Url, urlAlphabet } from "../../src/util/encoding";

const key = () => base64(crypto.getRandomValues(new Uint8Array(32)));
const oldKey = key();
const ring = parseSigningRing(
  JSON.stringify({ current: "new", keys: { old: oldKey, new: key() } }),
);
const oldRing = parseSigningRing(JSON.stringify({ current: "old", keys: { old: oldKey } }));
const domain = "track.example.test";

const contents = fc.record({
  accountId: fc.nat(),
  subaccountId: fc.nat(),
  messageId: fc.option(fc.string({ unit: "grapheme", maxLength: 30 }), { nil: undefined }),
  recipientId: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
  linkName: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
  url: fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => `https://example.com/${s}`),
  ),
});

/** The token with character `at` replaced by the next one of the alphabet. */
const changed = (token: string, at: number) => {
  const next = urlAlphabet[(urlAlphabet.indexOf(token[at] ?? "A") + 1) % 64];
  return token.slice(0, at) + next + token.slice(at + 1);
};

describe("link tokens", () => {
  it("verify back to exactly their content, interleaved with forged ones and older keys", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(contents, fc.boolean(), fc.nat()), { maxLength: 20 }),
        (links) => {
          for (const [content, old, position] of links) {
            const token = mintToken(old ? oldRing : ring, "click", domain, content);
            // Any character changed, anywhere (key id, dots, payload, MAC): refused.
            expect(
              verifyToken(ring, "click", domain, changed(token, position % token.length)),
            ).toBeNull();
            const expected: LinkContent = Object.fromEntries(
              Object.entries(content).filter(([, value]) => value !== undefined),
            ) as unknown as LinkContent;
            expect(verifyToken(ring, "click", domain, token)).toEqual(expected);
            expect(verifyToken(ring, "click", "other.example.test", token)).toBeNull();
            expect(verifyToken(ring, "open", domain, token)).toBeNull();
          }
        },
      ),
    );
  });

  it("refuses a MAC whose last character carries bits the MAC does not have", () => {
    const token = mintToken(ring, "click", domain, {
      accountId: 1,
      subaccountId: 0,
      url: "https://example.com/",
    });
    // 32 bytes are 43 characters; the last one holds 4 bits and two zero bits.
    const last = urlAlphabet.indexOf(token.at(-1) ?? "");
    const variant = `${token.slice(0, -1)}${urlAlphabet[last | 1]}`;
    expect(verifyToken(ring, "click", domain, token)).not.toBeNull();
    expect(verifyToken(ring, "click", domain, variant)).toBeNull();
  });
});

describe("base64UrlMatches", () => {
  it("is true for the base64url of the bytes and false for any other text", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat(), (bytes, position) => {
        const text = base64Url(bytes);
        expect(base64UrlMatches(text, bytes)).toBe(true);
        expect(base64UrlMatches(`${text}A`, bytes)).toBe(false);
        if (text.length > 0) {
          expect(base64UrlMatches(changed(text, position % text.length), bytes)).toBe(false);
          expect(base64UrlMatches(text.slice(1), bytes)).toBe(false);
        }
      }),
    );
  });
});
