// HTTP-01 at the edge: a tracking host answers the CA's challenge from its own certificate
// object (EU domains' objects live in the eu jurisdiction); anything else is a plain 404.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { domainCertificateStub } from "../../durable-objects/stubs";
import { newAccount, uniqueDomain } from "./helpers";

const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const keyAuthorization = `${token}.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs`;

async function domainWithChallenge(region: "us" | "eu") {
  const account = await newAccount();
  const domain = uniqueDomain();
  await account.call("POST", "/tracking-domains", { body: { domain, region } });
  await runInDurableObject(domainCertificateStub(env, domain, region), (_, state) => {
    state.storage.sql.exec(
      "INSERT INTO challenges (token, key_authorization, created_at) VALUES (?, ?, ?)",
      token,
      keyAuthorization,
      new Date().toISOString(),
    );
  });
  return domain;
}

const challenge = (host: string, path = token, method = "GET") =>
  SELF.fetch(`http://${host}/.well-known/acme-challenge/${path}`, { method });

describe("HTTP-01 responder", () => {
  it.each(["us", "eu"] as const)(
    "answers the key authorization on a %s tracking host",
    async (region) => {
      const domain = await domainWithChallenge(region);
      const response = await challenge(domain);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(keyAuthorization);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const head = await challenge(domain, token, "HEAD");
      expect(head.status).toBe(200);
      expect(await head.text()).toBe("");
      // The name is case-insensitive, as DNS is.
      expect((await challenge(domain.toUpperCase())).status).toBe(200);
    },
  );

  it("puts EU domains' objects in the configured jurisdiction", () => {
    // workerd has no jurisdictions (these tests run with EU_JURISDICTION empty), so this checks
    // the addressing against a namespace that records what it is asked.
    const asked: string[] = [];
    const namespace = {
      getByName: (name: string) => ({ name, jurisdiction: "default" }),
      jurisdiction: (j: string) => {
        asked.push(j);
        return { getByName: (name: string) => ({ name, jurisdiction: j }) };
      },
    };
    const production = {
      ...env,
      EU_JURISDICTION: "eu",
      DOMAIN_CERTIFICATE: namespace,
    } as unknown as Env;
    expect(domainCertificateStub(production, "track.example.eu", "eu")).toEqual({
      name: "track.example.eu",
      jurisdiction: "eu",
    });
    expect(domainCertificateStub(production, "track.example.com", "us")).toEqual({
      name: "track.example.com",
      jurisdiction: "default",
    });
    expect(asked).toEqual(["eu"]);
  });

  it.each([
    ["an unknown token", (d: string) => challenge(d, "A".repeat(43))],
    ["a malformed token", (d: string) => challenge(d, "../../etc")],
    ["an empty token", (d: string) => challenge(d, "")],
    ["a POST", (d: string) => challenge(d, token, "POST")],
    ["a host that is not a tracking domain", () => challenge(uniqueDomain())],
    ["an IP address as host", () => challenge("127.0.0.2")],
  ])("answers %s with a bare 404", async (_, request) => {
    const domain = await domainWithChallenge("us");
    const response = await request(domain);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain(keyAuthorization);
  });

  it("never answers challenges on the API host", async () => {
    await domainWithChallenge("us");
    const response = await challenge("localhost");
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain(keyAuthorization);
  });
});
