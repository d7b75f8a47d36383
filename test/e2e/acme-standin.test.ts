// ARI (RFC 9773) and profiles (draft-ietf-acme-profiles) against a stand-in server, because
// Pebble 2.4 implements neither. The stand-in checks the request shapes those documents define
// (see test/support/acme-standin.ts). The certificate ID comes from a real Pebble certificate.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPebble } from "../../scripts/lib/stack-config";
import { newAccount } from "../../src/acme/account";
import { certificateIdOf, getRenewalInfo, RenewalInfoUnavailableError } from "../../src/acme/ari";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import { newOrder, ProfileNotOfferedError } from "../../src/acme/order";
import { AcmeProblem } from "../../src/acme/problem";
import { issueCertificate } from "../support/acme-driver";
import { type Standin, startStandin } from "../support/acme-standin";
import { accountOn, clientFor, responder, uniqueName } from "./pebble";

let certificateId: string;
beforeAll(async () => {
  const client = clientFor(testPebble.directory);
  const issued = await issueCertificate({
    client,
    signer: await accountOn(client),
    names: [uniqueName("ari")],
    http01: responder,
  });
  certificateId = certificateIdOf(issued.certificate.certificates[0] as Uint8Array);
});

async function signerOn(client: AcmeClient) {
  const key = await generateAccountKey();
  return { key, accountUrl: (await newAccount(client, key, { termsOfServiceAgreed: true })).url };
}

describe("renewal information (RFC 9773), against a stand-in", () => {
  let standin: Standin;
  beforeAll(async () => {
    standin = await startStandin();
  });
  afterAll(() => standin.close());

  it("fetches the suggested window with an unauthenticated GET of {renewalInfo}/{certID}", async () => {
    const client = new AcmeClient({ directoryUrl: standin.directory });
    const info = await getRenewalInfo(client, certificateId);
    const request = standin.requests.find((r) => r.path.startsWith("/renewal-info/"));
    expect(request).toMatchObject({
      method: "GET",
      path: `/renewal-info/${certificateId}`,
      authorization: undefined,
      body: "",
    });
    const start = Date.parse(info.resource.suggestedWindow.start);
    expect(start).toBeGreaterThan(Date.now());
    expect(Date.parse(info.resource.suggestedWindow.end)).toBeGreaterThan(start);
    expect(info.resource.explanationURL).toMatch(/\/docs\/ari$/);
    // §4.3: the server's Retry-After (six hours here) says when to ask again.
    expect(Math.round(((info.retryAfter?.getTime() ?? 0) - Date.now()) / 3_600_000)).toBe(6);
  });

  it("names the replaced certificate in a new order (§5)", async () => {
    const client = new AcmeClient({ directoryUrl: standin.directory });
    const order = await newOrder(client, await signerOn(client), {
      identifiers: [{ type: "dns", value: "track.example.com" }],
      replaces: certificateId,
    });
    expect(order.resource.replaces).toBe(certificateId);
    const sent = standin.requests.filter((r) => r.path === "/order").at(-1);
    expect(sent?.payload).toEqual({
      identifiers: [{ type: "dns", value: "track.example.com" }],
      replaces: certificateId,
    });
  });

  it("says when a CA offers no renewal information", async () => {
    const bare = await startStandin({ renewalInfo: false });
    try {
      await expect(
        getRenewalInfo(new AcmeClient({ directoryUrl: bare.directory }), certificateId),
      ).rejects.toThrow(RenewalInfoUnavailableError);
      expect(bare.requests.some((r) => r.path.startsWith("/renewal-info"))).toBe(false);
    } finally {
      await bare.close();
    }
  });
});

describe("profiles, against a stand-in", () => {
  let standin: Standin;
  beforeAll(async () => {
    standin = await startStandin({
      profiles: { classic: "90 days", tlsserver: "45 days", shortlived: "6 days" },
      refusedProfiles: ["shortlived"],
    });
  });
  afterAll(() => standin.close());

  it("asks for a profile the directory lists, and the order carries it", async () => {
    const client = new AcmeClient({ directoryUrl: standin.directory });
    const order = await newOrder(client, await signerOn(client), {
      identifiers: [{ type: "dns", value: "track.example.com" }],
      profile: "tlsserver",
    });
    expect(order.resource.profile).toBe("tlsserver");
    expect(standin.requests.filter((r) => r.path === "/order").at(-1)?.payload).toMatchObject({
      profile: "tlsserver",
    });
  });

  it("does not ask for a profile the directory does not list", async () => {
    const client = new AcmeClient({ directoryUrl: standin.directory });
    const signer = await signerOn(client);
    const before = standin.requests.length;
    await expect(
      newOrder(client, signer, {
        identifiers: [{ type: "dns", value: "a.example.com" }],
        profile: "forever",
      }),
    ).rejects.toThrow(ProfileNotOfferedError);
    expect(standin.requests.slice(before).some((r) => r.path === "/order")).toBe(false);
  });

  it("reports the server's refusal of a profile as a typed invalidProfile", async () => {
    const client = new AcmeClient({ directoryUrl: standin.directory });
    const error = await newOrder(client, await signerOn(client), {
      identifiers: [{ type: "dns", value: "a.example.com" }],
      profile: "shortlived",
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblem);
    expect((error as AcmeProblem).is("invalidProfile")).toBe(true);
  });
});
