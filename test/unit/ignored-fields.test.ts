// What a request held that the API's schemas dropped, by path: the X-Ignored-Fields header's
// contents (src/api/validation.ts).
import { describe, expect, it } from "vitest";
import { ignoredFields, ignoredHeaderValue } from "../../src/api/ignored-fields";

describe("ignoredFields", () => {
  it("names top-level, nested and array-item fields the parsed value lacks", () => {
    const raw = {
      domain: "t.example.com",
      colour: "red",
      auth: { user: "u", pass: "p" },
      links: [{ url: "https://a", nmae: "x" }, { url: "https://b" }],
    };
    const kept = {
      domain: "t.example.com",
      auth: { user: "u" },
      links: [{ url: "https://a" }, { url: "https://b" }],
    };
    expect(ignoredFields(raw, kept)).toEqual(["colour", "auth.pass", "links[0].nmae"]);
  });

  it("names nothing when everything was kept, or when either side is not an object", () => {
    expect(ignoredFields({ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] })).toEqual([]);
    expect(ignoredFields("text", "text")).toEqual([]);
    expect(ignoredFields(undefined, { a: 1 })).toEqual([]);
    expect(ignoredFields({ a: 1 }, null)).toEqual([]);
    // A field kept with another type (a default filled in) is not ignored.
    expect(ignoredFields({ a: { b: 1 } }, { a: "x" })).toEqual([]);
  });
});

describe("ignoredHeaderValue", () => {
  it("writes what a header cannot carry as \\u{…}, and lists at most 50 names", () => {
    expect(ignoredHeaderValue(["colour", "a\nb", "café", "x\ud800"])).toBe(
      "colour, a\\u{a}b, caf\\u{e9}, x\\u{d800}",
    );
    const many = Array.from({ length: 53 }, (_, i) => `f${i}`);
    const value = ignoredHeaderValue(many);
    expect(value.endsWith("f49, and 3 more")).toBe(true);
    expect(() => new Headers({ "x-ignored-fields": value })).not.toThrow();
  });
});
