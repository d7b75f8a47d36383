// API keys: their shape, their hash, and the Authorization forms SparkPost clients send.
import { describe, expect, it } from "vitest";
import {
  apiKeyFromAuthorization,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
} from "../../src/accounts/api-keys";

describe("API keys", () => {
  it("are 160 random bits with a prefix, different every time, hashed with SHA-256", async () => {
    const [a, b] = [await generateApiKey(), await generateApiKey()];
    expect(a.key).toMatch(/^te_[0-9a-f]{40}$/);
    expect(a.key).not.toBe(b.key);
    expect(looksLikeApiKey(a.key)).toBe(true);
    expect(a.shortKey).toBe(a.key.slice(0, 11));
    expect(a.hash).toBe(await hashApiKey(a.key));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    expect(await hashApiKey("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["te_abc", "te_abc"],
    ["  te_abc  ", "te_abc"],
    ["Bearer te_abc", "te_abc"],
    ["bearer   te_abc", "te_abc"],
    [`Basic ${btoa("te_abc:")}`, "te_abc"],
    [`Basic ${btoa("te_abc")}`, "te_abc"],
    ["Basic !!!", undefined],
    ["Digest te_abc", undefined],
  ])("reads the key from Authorization %j", (header, key) => {
    expect(apiKeyFromAuthorization(header)).toBe(key);
  });
});
