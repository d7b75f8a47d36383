// An API key's valid_ips against the worker under wrangler dev: the address that counts is the
// one the connection came from, which the runtime passes on as CF-Connecting-IP. (Locally,
// Miniflare keeps a CF-Connecting-IP the client sent itself; on Cloudflare the edge sets it.)
import { describe, expect, inject, it } from "vitest";
import { api } from "./helpers";

async function keyFrom(validIps: string[]): Promise<string> {
  const made = await api(inject("apiKeys").alpha, "POST", "/api-keys", {
    label: `from ${validIps.join(" ")}`,
    grants: ["account/view"],
    valid_ips: validIps,
  });
  expect(made.status).toBe(200);
  return (await made.json<{ results: { key: string } }>()).results.key;
}

describe("API keys limited to addresses", () => {
  it("work from the address the connection came from, and are refused elsewhere, saying where", async () => {
    const loopback = await keyFrom(["127.0.0.0/8"]);
    const office = await keyFrom(["203.0.113.0/24"]);
    expect((await api(loopback, "GET", "/account")).status).toBe(200);
    const refused = await api(office, "GET", "/account");
    expect(refused.status).toBe(403);
    expect(
      (await refused.json<{ errors: { description: string }[] }>()).errors[0]?.description,
    ).toContain("127.0.0.1");
  });
});
