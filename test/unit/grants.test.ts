// API key grants: what a stored grant list means, read defensively.
import { describe, expect, it } from "vitest";
import { everyGrant, holds, normalizeGrants, parseGrants } from "../../src/accounts/grants";

describe("grants", () => {
  it("lets a change grant stand for its view grant, and nothing else stand for anything", () => {
    expect(holds(["tracking_domains/manage"], "tracking_domains/view")).toBe(true);
    expect(holds(["webhooks/modify"], "webhooks/view")).toBe(true);
    expect(holds(["tracking_domains/view"], "tracking_domains/manage")).toBe(false);
    expect(holds(["tracking_domains/manage"], "sending_domains/view")).toBe(false);
    expect(holds([], "account/view")).toBe(false);
  });

  it("reads a damaged or unknown grant list as less, never more", () => {
    expect(parseGrants('["account/view","root/everything",7]')).toEqual(["account/view"]);
    expect(parseGrants("not json")).toEqual([]);
    expect(parseGrants('{"account/view":true}')).toEqual([]);
    expect(parseGrants(null)).toEqual([]);
  });

  it("keeps subaccounts/* off a subaccount's key, and orders grants one way", () => {
    expect(everyGrant(true)).not.toContain("subaccounts/view");
    expect(everyGrant(false)).toContain("subaccounts/manage");
    expect(normalizeGrants(["webhooks/view", "account/view", "webhooks/view"])).toEqual([
      "account/view",
      "webhooks/view",
    ]);
  });
});
