// Link tokens verified one after another, as an isolate does with its reused HMAC state and
// buffers: every genuine token gives back exactly its content, whatever came before it, and no
// changed character (in the payload or the MAC, including a MAC spelled non-canonically) passes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  clickTarget,
  type LinkContent,
  locationOf,
  macOf,
  maxUrlBytes,
  mintToken,
  parseSigningRing,
  targetProblem,
  verifyToken,
} from "../../src/tracking/link-token";
import { base64UrlMatches } from "../../src/util/constant-time";
import {
  base64,
  base64Url,
  fromBase64Url,
  fromUtf8,
  urlAlphabet,
  utf8,
} from "../../src/util/encoding";

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

describe("a click's target", () => {
  const problemOf = (url: string) => {
    const checked = clickTarget(url);
    return "problem" in checked ? checked.problem : null;
  };

  it.each([
    ["ftp://example.com/file", "must be an http or https URL"],
    ["javascript:alert(1)", "must be an http or https URL"],
    ["/relative/path", "is not an absolute URL"],
    [" https://example.com/", "must start with http:// or https://"],
    ["https:example.com/", "must start with http:// or https://"],
    ["xhttps://example.com/", "must be an http or https URL"],
    ["https://example.com/a\nb", "holds a control character (such as CR, LF, tab or NUL)"],
    ["https://example.com/\u007f", "holds a control character (such as CR, LF, tab or NUL)"],
    ["https://example.com/\ud800", "holds a lone UTF-16 surrogate"],
  ])("refuses %j: %s", (url, problem) => {
    expect(problemOf(url)).toBe(problem);
    expect(targetProblem(url)).toBe(problem);
  });

  it("takes http and https in any case, as the URL parser writes them", () => {
    expect(clickTarget("HTTPS://Example.COM/a b?q=é")).toEqual({
      target: "https://example.com/a%20b?q=%C3%A9",
    });
    expect(clickTarget("http://bücher.example/")).toEqual({
      target: "http://xn--bcher-kva.example/",
    });
    expect(targetProblem("https://example.com/")).toBeUndefined();
  });

  it("counts its length in bytes, before and after percent-encoding", () => {
    const base = "https://example.com/";
    const fits = base + "a".repeat(maxUrlBytes - base.length);
    expect(clickTarget(fits)).toEqual({ target: fits });
    expect(problemOf(`${fits}a`)).toBe(`is longer than ${maxUrlBytes} bytes`);
    // Two bytes a character in UTF-8, six once percent-encoded.
    const wide = base + "é".repeat(Math.floor((maxUrlBytes - base.length) / 2));
    expect(problemOf(wide)).toBe(`is longer than ${maxUrlBytes} bytes (percent-encoded)`);
  });
});

describe("a click's Location", () => {
  it("is the target itself when it is printable ASCII", () => {
    expect(locationOf("https://example.com/a?b=c")).toBe("https://example.com/a?b=c");
    // As minted, even where the URL parser would write it otherwise.
    expect(locationOf("HTTPS://Example.com/a/../b")).toBe("HTTPS://Example.com/a/../b");
  });
  it("is the ASCII serialization of an older link's target", () => {
    expect(locationOf("https://example.com/ä ö")).toBe("https://example.com/%C3%A4%20%C3%B6");
  });
  it("is none for a target no Location may carry", () => {
    expect(locationOf("https://example.com/a\r\nSet-Cookie: x=1")).toBeNull();
    expect(locationOf("javascript:alert(1) é")).toBeNull();
  });
});

describe("a token's shape", () => {
  const token = mintToken(ring, "click", domain, {
    accountId: 1,
    subaccountId: 0,
    url: "https://example.com/",
  });
  it("is refused with anything before or after it", () => {
    expect(verifyToken(ring, "click", domain, token)).not.toBeNull();
    expect(verifyToken(ring, "click", domain, `x${token}`)).toBeNull();
    expect(verifyToken(ring, "click", domain, `${token}x`)).toBeNull();
    expect(verifyToken(ring, "click", domain, `a.${token}`)).toBeNull();
  });
  it("refuses to mint a click whose target is not http(s)", () => {
    expect(() =>
      mintToken(ring, "click", domain, { accountId: 1, subaccountId: 0, url: "ftp://x/" }),
    ).toThrow("a click's target must be an http(s) URL");
    expect(() => mintToken(ring, "click", domain, { accountId: 1, subaccountId: 0 })).toThrow();
  });
  it("names LINK_SIGNING_KEYS when the ring is wrong", () => {
    expect(() => parseSigningRing("{")).toThrow(/LINK_SIGNING_KEYS/);
  });
  it("carries no target for an open, and is not a click", () => {
    const open = mintToken(ring, "open", domain, { accountId: 2, subaccountId: 3, messageId: "m" });
    expect(verifyToken(ring, "open", domain, open)).toEqual({
      accountId: 2,
      subaccountId: 3,
      messageId: "m",
    });
    expect(verifyToken(ring, "click", domain, open)).toBeNull();
  });
});

describe("a token signed by a key of the ring but not minted here", () => {
  /** What mintToken would give for this payload, had it written it. */
  const signed = (kind: "click" | "open", payloadText: string, keyId = "new") => {
    const payload = base64Url(utf8(payloadText));
    const key = ring.keys.get(keyId);
    if (!key) throw new Error(`no key ${keyId}`);
    const mac = macOf(key, utf8(`${kind}|${domain}|${keyId}.${payload}`));
    return `${keyId}.${payload}.${base64Url(mac)}`;
  };

  it("is read like a minted one when it has the same shape (the control)", () => {
    const token = signed("click", '{"a":1,"s":2,"u":"https://example.com/","m":"x"}');
    expect(verifyToken(ring, "click", domain, token)).toStrictEqual({
      accountId: 1,
      subaccountId: 2,
      url: "https://example.com/",
      messageId: "x",
    });
  });

  it.each([
    ["a payload that is not JSON", "not json"],
    ["no account", '{"s":2,"u":"https://example.com/"}'],
    ["an account that is not a number", '{"a":"1","s":2,"u":"https://example.com/"}'],
    ["no subaccount", '{"a":1,"u":"https://example.com/"}'],
    ["a click without a target", '{"a":1,"s":2}'],
    ["a click whose target is not a string", '{"a":1,"s":2,"u":7}'],
    ["a click whose target is not http(s)", '{"a":1,"s":2,"u":"javascript:alert(1)"}'],
  ])("is refused with %s", (_, payload) => {
    expect(verifyToken(ring, "click", domain, signed("click", payload))).toBeNull();
  });

  it("drops context fields that are not strings", () => {
    const token = signed("open", '{"a":1,"s":2,"m":5,"r":null,"n":{"x":1}}');
    expect(verifyToken(ring, "open", domain, token)).toStrictEqual({
      accountId: 1,
      subaccountId: 2,
    });
  });
});

describe("minting", () => {
  const payloadOf = (token: string) =>
    JSON.parse(fromUtf8(fromBase64Url(token.split(".")[1] ?? "")));

  it("writes only the fields a link has, and no target into an open", () => {
    const open = mintToken(ring, "open", domain, {
      accountId: 2,
      subaccountId: 3,
      url: "https://example.com/",
    });
    expect(payloadOf(open)).toStrictEqual({ a: 2, s: 3 });
    const click = mintToken(ring, "click", domain, {
      accountId: 2,
      subaccountId: 3,
      url: "https://example.com/",
      recipientId: "r",
    });
    expect(payloadOf(click)).toStrictEqual({ a: 2, s: 3, u: "https://example.com/", r: "r" });
  });

  it("refuses a ring whose current key is not among its keys", () => {
    const broken = { current: "gone", keys: ring.keys };
    expect(() => mintToken(broken, "open", domain, { accountId: 1, subaccountId: 0 })).toThrow(
      "the current signing key is missing from the ring",
    );
  });

  it("signs and verifies on a domain written in Unicode, and on no other", () => {
    const unicode = "trÿck.example.test";
    const token = mintToken(ring, "open", unicode, { accountId: 1, subaccountId: 0 });
    expect(verifyToken(ring, "open", unicode, token)).toStrictEqual({
      accountId: 1,
      subaccountId: 0,
    });
    expect(verifyToken(ring, "open", "tryck.example.test", token)).toBeNull();
    expect(verifyToken(ring, "open", domain, token)).toBeNull();
  });

  it("verifies a genuine token of 8192 characters, and refuses a longer one", () => {
    const tokenOf = (length: number) =>
      mintToken(ring, "open", domain, {
        accountId: 1,
        subaccountId: 0,
        messageId: "m".repeat(length),
      });
    let length = 6000;
    while (tokenOf(length).length < 8192) length++;
    const longest = tokenOf(length);
    expect(longest).toHaveLength(8192);
    expect(verifyToken(ring, "open", domain, longest)?.messageId).toHaveLength(length);
    const longer = tokenOf(length + 1);
    expect(longer.length).toBeGreaterThan(8192);
    expect(verifyToken(ring, "open", domain, longer)).toBeNull();
  });
});
