// Names contended between accounts, end to end with the real stack (the worker under wrangler
// dev, DNS through dnsmasq and pebble-challtestsrv over DoH, certificates from Pebble):
// - a dangling CNAME: an account deletes its domain and leaves the CNAME; another account cannot
//   verify the name without the ownership TXT record, and can with it; the first one's links stop;
// - a squatter: an account takes a name its owner's CNAME already points at us; the owner claims
//   it with the TXT record, the squatter's domain ends (webhook, certificate off the edge, links);
// - an account whose operator requires the TXT record for every new domain;
// - a link replayed from one network: every click redirects, D1 stores a bounded number of them.
// The worker here trusts a domain's holder for 2 s (LINK_HOLDER_CACHE_SECONDS), not 240 s.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLocalApiKeys } from "../../scripts/lib/api-key-sql";
import { getVia } from "../../scripts/lib/get-via";
import { endpoints, projectRoot } from "../../scripts/lib/stack-config";
import { WebhookEndpoint } from "../support/webhook-endpoint";
import { api, dns, dynamicName, getDomain, waitForDomain } from "./helpers";

const { gamma, delta } = inject("apiKeys");
const worker = new URL(inject("workerUrl"));
const via = { host: worker.hostname, port: Number(worker.port) };

interface Ownership {
  name: string;
  value: string;
  status: string;
  found: string[];
}

interface Verification {
  verified: boolean;
  cname_status: string;
  ownership: Ownership & { detail: string; fix: string | null; action_by: string | null };
}

interface ErrorBody {
  errors: { message: string; description?: string; param?: string }[];
}

const holderCacheMs = 2000;
const afterHolderCache = () => new Promise((resolve) => setTimeout(resolve, holderCacheMs + 500));

async function verify(key: string, domain: string): Promise<Verification> {
  const response = await api(key, "POST", `/tracking-domains/${domain}/verify`);
  expect(response.status).toBe(200);
  return (await response.json<{ results: Verification }>()).results;
}

/** Makes `domain` the account's default and mints a link on it. */
async function mintOn(key: string, domain: string, url = "https://brand.example/spring") {
  expect((await api(key, "PUT", `/tracking-domains/${domain}`, { default: true })).status).toBe(
    200,
  );
  const minted = await api(key, "POST", "/tracking-links", { links: [{ url }] });
  expect(minted.status).toBe(200);
  const results = (
    await minted.json<{ results: { tracking_domain: string; links: { tracked_url: string }[] } }>()
  ).results;
  expect(results.tracking_domain).toBe(domain);
  // Over plain HTTP to the worker: the TLS edge is not what this file is about.
  return (results.links[0]?.tracked_url ?? "").replace(/^https:/, "http:");
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("a CNAME left behind after deletion", () => {
  it("needs the new account's TXT record before the name verifies, and the old account's links stop", {
    timeout: 90_000,
  }, async () => {
    const name = dynamicName("dangling");
    await dns.setCname(name, endpoints.v2Us);
    // The first account verifies the name and sends links on it.
    expect((await api(gamma, "POST", "/tracking-domains", { domain: name })).status).toBe(200);
    expect((await verify(gamma, name)).verified).toBe(true);
    const oldLink = await mintOn(gamma, name);
    expect((await getVia(oldLink, via)).status).toBe(302);
    // It deletes the domain; the customer forgets the CNAME.
    expect((await api(gamma, "DELETE", `/tracking-domains/${name}`)).status).toBe(204);
    await afterHolderCache();
    const dead = await getVia(oldLink, via);
    expect(dead.status).toBe(404);
    expect(dead.location).toBeUndefined();

    // Another account takes the name: the CNAME still reaches us, which proves nothing.
    const created = await api(delta, "POST", "/tracking-domains", { domain: name });
    expect(created.status).toBe(200);
    const { ownership } = (await created.json<{ results: { ownership: Ownership } }>()).results;
    expect(ownership).toMatchObject({ name: `_tracking-edge.${name}`, status: "pending" });
    const refused = await verify(delta, name);
    expect(refused).toMatchObject({
      verified: false,
      cname_status: "valid",
      ownership: { status: "pending", found: [], action_by: "customer" },
    });
    expect(refused.ownership.fix).toContain(ownership.value);
    // Not verified: no certificate can be started.
    expect((await api(delta, "POST", `/tracking-domains/${name}/certificate/enable`)).status).toBe(
      422,
    );
    // A wrong value is named as found, and still refused.
    await dns.setTxt(ownership.name, "tracking-edge-account=someone-else");
    const wrong = await verify(delta, name);
    expect(wrong).toMatchObject({
      verified: false,
      ownership: { status: "invalid", found: ["tracking-edge-account=someone-else"] },
    });

    // The owner of the name publishes the account's record: now it verifies and gets its certificate.
    await dns.clearTxt(ownership.name);
    await dns.setTxt(ownership.name, ownership.value);
    const proven = await verify(delta, name);
    expect(proven).toMatchObject({ verified: true, ownership: { status: "valid" } });
    const valid = await waitForDomain(delta, name, (d) => d.status.tls_status === "valid");
    expect(valid.tls_certificate.expires_at).not.toBeNull();
    // The first account's link stays dead: the name is the second account's now.
    expect((await getVia(oldLink, via)).status).toBe(404);
    expect((await getVia(await mintOn(delta, name), via)).status).toBe(302);
  });
});

describe("a name taken by someone else first", () => {
  const hooks = new WebhookEndpoint();
  beforeAll(() => hooks.start());
  afterAll(() => hooks.stop());

  it("is claimed by its owner with the TXT record: the holder's domain, certificate and links end", {
    timeout: 90_000,
  }, async () => {
    const name = dynamicName("squatted");
    await dns.setCname(name, endpoints.v2Us);
    // The squatter gets there first; nobody held the name, and the CNAME points at us.
    const hook = await api(delta, "POST", "/webhooks", { name: "domains", target: hooks.url });
    expect(hook.status).toBe(200);
    expect((await api(delta, "POST", "/tracking-domains", { domain: name })).status).toBe(200);
    expect((await verify(delta, name)).verified).toBe(true);
    const squatterLink = await mintOn(delta, name);
    expect((await getVia(squatterLink, via)).status).toBe(302);
    await waitForDomain(delta, name, (d) => d.status.tls_status === "valid");
    const edgeCertificate = () =>
      fetch(`${inject("workerUrl")}/internal/v1/certificates/${name}`, {
        headers: { authorization: `Bearer ${inject("edgePullToken")}` },
      });
    expect((await edgeCertificate()).status).toBe(200);

    // The name's owner asks for it: the 409 says how to claim it.
    const taken = await api(gamma, "POST", "/tracking-domains", { domain: name });
    expect(taken.status).toBe(409);
    const conflict = (await taken.json<ErrorBody>()).errors[0];
    expect(conflict?.description).toContain("held by another account");
    expect(conflict?.description).toContain(`/tracking-domains/${name}/claim`);
    const record = (
      await (
        await api(gamma, "GET", `/tracking-domains/${name}/claim`)
      ).json<{
        results: { ownership: { name: string; value: string }; held_by_this_account: boolean };
      }>()
    ).results;
    expect(record.held_by_this_account).toBe(false);
    expect(conflict?.description).toContain(record.ownership.value);
    // Without the record, a claim is refused and nothing moves.
    const early = await api(gamma, "POST", `/tracking-domains/${name}/claim`);
    expect(early.status).toBe(422);
    expect((await early.json<ErrorBody>()).errors[0]?.description).toContain(
      `Add a TXT record ${record.ownership.name}`,
    );
    expect((await getDomain(delta, name)).status.verified).toBe(true);

    await dns.setTxt(record.ownership.name, record.ownership.value);
    const claimed = await api(gamma, "POST", `/tracking-domains/${name}/claim`);
    expect(claimed.status).toBe(200);
    expect(
      (await claimed.json<{ results: { domain: string; ownership: Ownership } }>()).results,
    ).toMatchObject({ domain: name, ownership: { status: "valid" } });

    // The squatter's domain is gone, and it was told why.
    expect((await api(delta, "GET", `/tracking-domains/${name}`)).status).toBe(404);
    const told = await until("the domain_claimed event", () =>
      hooks.eventsFor(name).find((e) => e.event.type === "domain_claimed"),
    );
    expect(told.event).toMatchObject({ domain: name, previous_tls_status: "valid" });
    // Its certificate is off the edge, and its links stop.
    expect((await edgeCertificate()).status).toBe(404);
    await afterHolderCache();
    expect((await getVia(squatterLink, via)).status).toBe(404);

    // The owner verifies (the record is in place) and gets a certificate of its own.
    expect(await verify(gamma, name)).toMatchObject({ verified: true });
    await waitForDomain(gamma, name, (d) => d.status.tls_status === "valid");
    expect((await getVia(await mintOn(gamma, name), via)).status).toBe(302);
    // The squatter cannot take it back: the record names the owner's account.
    const again = await api(delta, "POST", `/tracking-domains/${name}/claim`);
    expect(again.status).toBe(422);
  });
});

describe("an account that requires the TXT record for every domain", () => {
  it("verifies a new name only once the record is there", { timeout: 60_000 }, async () => {
    const [careful] = (await createLocalApiKeys([{ account: "careful" }], inject("persistTo"))) as [
      string,
    ];
    execFileSync(
      "npx",
      [
        "tsx",
        "scripts/account-ownership.ts",
        "--account",
        "careful",
        "--require",
        "--persist-to",
        inject("persistTo"),
      ],
      { cwd: projectRoot, stdio: "pipe" },
    );
    const name = dynamicName("careful");
    await dns.setCname(name, endpoints.v2Us);
    const created = await api(careful, "POST", "/tracking-domains", { domain: name });
    const { ownership } = (await created.json<{ results: { ownership: Ownership } }>()).results;
    expect(ownership.status).toBe("pending");
    expect((await verify(careful, name)).verified).toBe(false);
    await dns.setTxt(ownership.name, ownership.value);
    expect(await verify(careful, name)).toMatchObject({
      verified: true,
      ownership: { status: "valid" },
    });
  });
});

describe("one link replayed from one network", () => {
  it("redirects every time, and stores at most the limit a minute, counting the rest", {
    timeout: 90_000,
  }, async () => {
    const [replayed] = (await createLocalApiKeys(
      [{ account: "replayed" }],
      inject("persistTo"),
    )) as [string];
    const name = dynamicName("replayed");
    await dns.setCname(name, endpoints.v2Us);
    expect(
      (await api(replayed, "POST", "/tracking-domains", { domain: name, secure: false })).status,
    ).toBe(200);
    expect((await verify(replayed, name)).verified).toBe(true);
    const link = await mintOn(replayed, name);
    const clicks = 150;
    const minutes = new Set<string>();
    for (let i = 0; i < clicks; i++) {
      minutes.add(new Date().toISOString().slice(0, 16));
      const answer = await getVia(link, via);
      expect(answer.status).toBe(302);
      expect(answer.location).toBe("https://brand.example/spring");
      minutes.add(new Date().toISOString().slice(0, 16));
    }
    // Every click is accounted for: stored one by one, or counted.
    const tally = await until("every click stored or counted", async () => {
      const stored = await api(
        replayed,
        "GET",
        `/events/engagement?tracking_domain=${name}&limit=1000`,
      );
      const counted = await api(
        replayed,
        "GET",
        `/events/engagement/counted?tracking_domain=${name}`,
      );
      const storedCount = (await stored.json<{ results: unknown[] }>()).results.length;
      const countedCount = (await counted.json<{ results: { count: number }[] }>()).results.reduce(
        (sum, r) => sum + r.count,
        0,
      );
      return storedCount + countedCount === clicks ? { storedCount, countedCount } : undefined;
    });
    // ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE is 60: the clicks spanned one minute or two.
    expect(tally.storedCount).toBeLessThanOrEqual(60 * minutes.size);
    expect(tally.countedCount).toBeGreaterThanOrEqual(clicks - 60 * minutes.size);
  });
});
