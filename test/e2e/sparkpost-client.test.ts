// The official SparkPost Node client (`sparkpost` on npm) against the worker, as a sender's code
// that moves from SparkPost would use it: its generic get/post/put/delete for tracking domains
// (the client has no tracking-domains resource), and its `subaccounts` and `webhooks` resources.
// Only the origin changes; every request is the client's own.
import SparkPost from "sparkpost";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { WebhookEndpoint } from "../support/webhook-endpoint";
import { dns, dynamicName } from "./helpers";

const client = () => new SparkPost(inject("apiKeys").alpha, { origin: inject("workerUrl") });

interface DomainResults {
  results: {
    domain: string;
    port: number;
    secure: boolean;
    default: boolean;
    status: { verified: boolean; cname_status: string; compliance_status: string };
  };
}

/** The client resolves with the parsed body (its types say otherwise for the generic requests). */
const body = async <T>(request: Promise<unknown>): Promise<T> => (await request) as T;

/** What the client rejects with: SparkPost's error envelope and the status. */
interface ClientError {
  statusCode: number;
  errors: { code: string; message: string; description?: string }[];
}

describe("the official sparkpost client", () => {
  it("manages a tracking domain with the generic requests", async () => {
    const sparky = client();
    const domain = dynamicName("sdk");
    await dns.setCname(domain, "v2.track-endpoint.test");
    const created = await body<DomainResults>(
      sparky.post({
        uri: "tracking-domains",
        json: { domain, port: 80, secure: false, default: false },
      }),
    );
    expect(created.results).toMatchObject({
      domain,
      port: 80,
      secure: false,
      default: false,
      status: { verified: false, cname_status: "unverified" },
    });

    // SparkPost's answer to an unverified default, as the client reports errors.
    const refused = (await sparky
      .put({ uri: `tracking-domains/${domain}`, json: { default: true } })
      .catch((error: unknown) => error)) as ClientError;
    expect(refused.statusCode).toBe(422);
    expect(refused.errors[0]).toMatchObject({ code: "1300" });

    const verified = await body<{ results: DomainResults["results"]["status"] }>(
      sparky.post({ uri: `tracking-domains/${domain}/verify`, json: true }),
    );
    expect(verified.results).toMatchObject({ verified: true, cname_status: "valid" });

    const updated = await body<DomainResults>(
      sparky.put({ uri: `tracking-domains/${domain}`, json: { default: true } }),
    );
    expect(updated.results.default).toBe(true);
    const listed = await body<{ results: DomainResults["results"][] }>(
      sparky.get({ uri: "tracking-domains", json: true }),
    );
    expect(listed.results.find((d) => d.domain === domain)).toMatchObject({ default: true });
    await sparky.delete({ uri: `tracking-domains/${domain}`, json: true });
    const gone = (await sparky
      .get({ uri: `tracking-domains/${domain}`, json: true })
      .catch((error: unknown) => error)) as ClientError;
    expect(gone.statusCode).toBe(404);
    expect(gone.errors[0]).toMatchObject({ code: "1600", message: "resource not found" });
  });

  it("creates, lists and reads subaccounts with its subaccounts resource", async () => {
    const sparky = client();
    const name = `Sparkle Ponies ${Date.now()}`;
    const made = (await sparky.subaccounts.create({
      name,
      key_label: "API Key for Sparkle Ponies Subaccount",
      key_grants: ["smtp/inject", "tracking_domains/manage", "message_events/view"],
    })) as unknown as { results: { subaccount_id: number; key: string; short_key: string } };
    expect(made.results.key.startsWith(made.results.short_key)).toBe(true);
    const list = await sparky.subaccounts.list();
    expect(list.results.some((s) => s.id === made.results.subaccount_id && s.name === name)).toBe(
      true,
    );
    const one = await sparky.subaccounts.get(String(made.results.subaccount_id));
    expect(one.results).toMatchObject({ id: made.results.subaccount_id, name, status: "active" });
    // Its key acts for its subaccount, through the same client.
    const theirs = new SparkPost(made.results.key, { origin: inject("workerUrl") });
    const domains = await body<{ results: unknown[] }>(
      theirs.get({ uri: "tracking-domains", json: true }),
    );
    expect(domains.results).toEqual([]);
  });

  describe("webhooks resource", () => {
    const endpoint = new WebhookEndpoint();
    beforeAll(() => endpoint.start());
    afterAll(() => endpoint.stop());

    it("creates, reads, updates, validates and deletes a webhook", async () => {
      const sparky = client();
      const made = await sparky.webhooks.create({
        name: "Engagement via the client",
        target: endpoint.url,
        auth_token: "5ebe2294ecd0e0f08eab7690d2a6ee69",
        events: ["click", "open"],
      });
      const id = (made.results as { id: string }).id;
      const hooks = (await sparky.webhooks.list()).results as unknown as { id: string }[];
      expect(hooks.some((w) => w.id === id)).toBe(true);
      expect((await sparky.webhooks.get(id)).results).toMatchObject({
        name: "Engagement via the client",
        target: endpoint.url,
        events: ["click", "open"],
      });
      await sparky.webhooks.update(id, { name: "Renamed", events: ["click"] });
      expect((await sparky.webhooks.get(id)).results).toMatchObject({
        name: "Renamed",
        events: ["click"],
      });
      const validated = (await sparky.webhooks.validate(id, {
        message: { msys: {} },
      })) as unknown as { results: { response: { status: number } } };
      expect(validated.results.response.status).toBe(200);
      expect(endpoint.received.length).toBeGreaterThan(0);
      const documentation = await sparky.webhooks.getDocumentation();
      expect(Object.keys(documentation.results)).toContain("track_event");
      const batches = await body<{ results: unknown[] }>(
        sparky.webhooks.getBatchStatus(id, { limit: 10 }),
      );
      expect(Array.isArray(batches.results)).toBe(true);
      await sparky.webhooks.delete(id);
      const gone = (await sparky.webhooks.get(id).catch((error: unknown) => error)) as ClientError;
      expect(gone.statusCode).toBe(404);
    });
  });
});
