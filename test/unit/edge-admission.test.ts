// What a custom hostname's status and pre-validation fields mean for a self-managed name, and
// what the customer reads of it: the TXT record while Cloudflare has not admitted the name.
import { describe, expect, it } from "vitest";
import { admissionOf } from "../../src/deploy/cloudflare-saas";

const txt = { type: "txt", name: "_cf-custom-hostname.track.example.com", value: "0e2d5a7f" };

describe("admissionOf", () => {
  it("is pending with the TXT record to add and Cloudflare's reason", () => {
    expect(
      admissionOf({
        id: "h",
        hostname: "track.example.com",
        status: "pending",
        verification_errors: ["custom hostname does not CNAME to this zone."],
        ownership_verification: txt,
      }),
    ).toEqual({
      status: "pending",
      active: false,
      record: { name: txt.name, value: txt.value },
      problems: ["custom hostname does not CNAME to this zone."],
    });
  });

  it("routes the name in Cloudflare's active statuses only", () => {
    const of = (status: string) =>
      admissionOf({ id: "h", hostname: "t.example.com", status }).active;
    expect(of("active")).toBe(true);
    expect(of("active_redeploying")).toBe(true);
    for (const status of ["pending", "moved", "blocked", "pending_deletion", "deleted"])
      expect(of(status)).toBe(false);
    expect(admissionOf({ id: "h", hostname: "t.example.com" })).toMatchObject({
      status: "unknown",
      active: false,
      problems: [],
    });
  });

  it("shows no record for another kind of verification, or one without a value", () => {
    const record = (ownership_verification: Record<string, string>) =>
      admissionOf({ id: "h", hostname: "t.example.com", status: "pending", ownership_verification })
        .record;
    expect(record({ ...txt, type: "http" })).toBeNull();
    expect(record({ type: "txt", name: txt.name, value: "" })).toBeNull();
    expect(record({ type: "txt", name: "", value: "v" })).toBeNull();
  });
});
