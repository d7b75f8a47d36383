// /api/v1/api-keys: customers make, narrow and revoke their own keys; grants limit what each
// key may do, and no key can make or tamper with one more powerful than itself.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Grant } from "../../src/accounts/grants";
import { pruneRevokedKeys, revokedKeyRetentionMs } from "../../src/accounts/repository";
import worker from "../../workers/edge";
import { callApi, type ErrorBody, newAccount, newKey, type TestAccount, withKey } from "./helpers";

interface ApiKeyBody {
  id: string;
  key?: string;
  label: string;
  short_key: string;
  grants: Grant[];
  valid_ips: string[];
  subaccount_id?: number;
  created_at: string;
  last_used_at: string | null;
}

const as = withKey;

async function createKey(
  account: Pick<TestAccount, "call">,
  label: string,
  grants: Grant[],
  headers: Record<string, string> = {},
): Promise<ApiKeyBody & { key: string }> {
  const response = await account.call("POST", "/api-keys", { body: { label, grants }, headers });
  expect(response.status).toBe(200);
  return (await response.json<{ results: ApiKeyBody & { key: string } }>()).results;
}

async function errorOf(response: Response) {
  return (await response.json<ErrorBody>()).errors[0];
}

describe("API keys API", () => {
  it("makes a key shown once, which can do what its grants say and nothing else", async () => {
    const account = await newAccount();
    const made = await createKey(account, "Dashboard (read only)", [
      "tracking_links/create",
      "tracking_domains/view",
    ]);
    expect(made.key).toMatch(/^te_[0-9a-f]{40}$/);
    expect(made.key.startsWith(made.short_key)).toBe(true);
    // Stored and shown in one order, whatever order they were asked in.
    expect(made.grants).toEqual(["tracking_domains/view", "tracking_links/create"]);
    expect(made.last_used_at).toBeNull();

    const narrow = as(made.key);
    expect((await narrow.call("GET", "/tracking-domains")).status).toBe(200);
    const write = await narrow.call("POST", "/tracking-domains", {
      body: { domain: "track.shop.test" },
    });
    expect(write.status).toBe(403);
    expect((await errorOf(write))?.description).toContain("tracking_domains/manage");
    const hooks = await narrow.call("GET", "/webhooks");
    expect(hooks.status).toBe(403);
    expect((await errorOf(hooks))?.description).toContain("webhooks/view");
    expect((await narrow.call("GET", "/api-keys")).status).toBe(403);

    // The key is never shown again, nor kept: listing shows labels and short keys only.
    const listed = await account.call("GET", "/api-keys");
    const text = await listed.text();
    expect(text).not.toContain(made.key);
    const keys = (JSON.parse(text) as { results: ApiKeyBody[] }).results;
    expect(keys.map((k) => k.label)).toEqual(["test", "Dashboard (read only)"]);
    const stored = await env.DB.prepare("SELECT * FROM api_keys WHERE public_id = ?")
      .bind(made.id)
      .first();
    expect(JSON.stringify(stored)).not.toContain(made.key);
  });

  it("lets a resource's change grant read it too", async () => {
    const account = await newAccount();
    const made = await createKey(account, "webhooks", ["webhooks/modify"]);
    expect((await as(made.key).call("GET", "/webhooks")).status).toBe(200);
    expect((await as(made.key).call("GET", "/tracking-domains")).status).toBe(403);
  });

  it("names the field at fault in a bad request", async () => {
    const account = await newAccount();
    const cases: [unknown, string][] = [
      [{ label: "x", grants: ["tracking_domains/everything"] }, "grants.0"],
      [{ label: "x", grants: [] }, "grants"],
      [{ label: "x" }, "grants"],
      [{ label: "  ", grants: ["account/view"] }, "label"],
    ];
    for (const [body, param] of cases) {
      const response = await account.call("POST", "/api-keys", { body });
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect((await errorOf(response))?.param).toBe(param);
    }
    expect((await account.call("GET", "/api-keys")).status).toBe(200);
    const listed = await (await account.call("GET", "/api-keys")).json<{ results: unknown[] }>();
    expect(listed.results).toHaveLength(1);
    // A key of the caller's own choosing is not a field: ignored, named, and the key is ours.
    const chosen = await account.call("POST", "/api-keys", {
      body: { label: "x", grants: ["account/view"], key: "te_mine" },
    });
    expect(chosen.status).toBe(200);
    expect(chosen.headers.get("x-ignored-fields")).toBe("key");
    expect((await chosen.json<{ results: { key: string } }>()).results.key).not.toBe("te_mine");
  });

  it("gives only grants the calling key holds, and touches no key more powerful than it", async () => {
    const account = await newAccount();
    const admin = await createKey(account, "key admin", [
      "api_keys/manage",
      "tracking_domains/view",
    ]);
    const asAdmin = as(admin.key);

    const escalate = await asAdmin.call("POST", "/api-keys", {
      body: { label: "more", grants: ["tracking_domains/manage"] },
    });
    expect(escalate.status).toBe(403);
    const error = await errorOf(escalate);
    expect(error?.param).toBe("grants");
    expect(error?.description).toContain("tracking_domains/manage");

    // The account's full key holds more than the admin: the admin can neither narrow nor revoke it.
    const keys = (await (await account.call("GET", "/api-keys")).json<{ results: ApiKeyBody[] }>())
      .results;
    const full = keys.find((k) => k.label === "test");
    expect(full).toBeDefined();
    for (const [method, body] of [
      ["PUT", { grants: ["account/view"] }],
      ["DELETE", undefined],
    ] as const) {
      const response = await asAdmin.call(method, `/api-keys/${full?.id}`, { body });
      expect(response.status).toBe(403);
      expect((await errorOf(response))?.description).toContain("holds");
    }
    expect((await account.call("GET", "/tracking-domains")).status).toBe(200);

    // A narrower key is the admin's to manage.
    const viewer = await createKey(asAdmin, "viewer", ["tracking_domains/view"]);
    const relabelled = await asAdmin.call("PUT", `/api-keys/${viewer.id}`, {
      body: { label: "viewer 2" },
    });
    expect(relabelled.status).toBe(200);
    expect((await relabelled.json<{ results: ApiKeyBody }>()).results).toMatchObject({
      label: "viewer 2",
      grants: ["tracking_domains/view"],
    });
    expect((await asAdmin.call("DELETE", `/api-keys/${viewer.id}`)).status).toBe(204);
    expect((await as(viewer.key).call("GET", "/tracking-domains")).status).toBe(401);
  });

  it("revokes at once, and a key cannot revoke itself or change its own grants", async () => {
    const account = await newAccount();
    const second = await createKey(account, "second", ["api_keys/manage", "account/view"]);
    const asSecond = as(second.key);

    const self = await asSecond.call("DELETE", `/api-keys/${second.id}`);
    expect(self.status).toBe(409);
    expect((await errorOf(self))?.description).toContain("another key");
    expect(
      (await asSecond.call("PUT", `/api-keys/${second.id}`, { body: { grants: ["account/view"] } }))
        .status,
    ).toBe(409);
    // Its own label is fine.
    expect(
      (await asSecond.call("PUT", `/api-keys/${second.id}`, { body: { label: "renamed" } })).status,
    ).toBe(200);

    expect((await account.call("DELETE", `/api-keys/${second.id}`)).status).toBe(204);
    expect((await asSecond.call("GET", "/account")).status).toBe(401);
    expect((await account.call("GET", `/api-keys/${second.id}`)).status).toBe(404);
    expect((await account.call("DELETE", `/api-keys/${second.id}`)).status).toBe(404);
    const listed = await (await account.call("GET", "/api-keys")).json<{ results: ApiKeyBody[] }>();
    expect(listed.results.map((k) => k.id)).not.toContain(second.id);
  });

  it("keeps each account's keys invisible to other accounts", async () => {
    const [a, b] = [await newAccount(), await newAccount()];
    const made = await createKey(a, "a's key", ["account/view"]);
    for (const [method, body] of [
      ["GET", undefined],
      ["PUT", { label: "mine now" }],
      ["DELETE", undefined],
    ] as const) {
      const response = await b.call(method, `/api-keys/${made.id}`, { body });
      expect(response.status).toBe(404);
    }
    const listed = await (await b.call("GET", "/api-keys")).json<{ results: ApiKeyBody[] }>();
    expect(listed.results.map((k) => k.id)).not.toContain(made.id);
    expect((await as(made.key).call("GET", "/account")).status).toBe(200);
  });

  it("makes and lists a subaccount's keys with X-MSYS-SUBACCOUNT; a subaccount key sees only its own", async () => {
    const account = await newAccount({ subaccounts: [1, 2] });
    const inOne = { "x-msys-subaccount": "1" };
    const subKey = await createKey(
      account,
      "sub 1",
      ["tracking_domains/manage", "api_keys/manage"],
      inOne,
    );
    expect(subKey.subaccount_id).toBe(1);
    const primaryOnly = await account.call("POST", "/api-keys", {
      body: { label: "x", grants: ["subaccounts/view"] },
      headers: inOne,
    });
    expect(primaryOnly.status).toBe(422);
    expect((await errorOf(primaryOnly))?.param).toBe("grants");

    // The subaccount key acts for subaccount 1 only, and sees its subaccount's keys only.
    const asSub = as(subKey.key);
    expect((await asSub.call("GET", "/tracking-domains")).status).toBe(200);
    expect(
      (
        await callApi("GET", "/tracking-domains", {
          headers: { authorization: subKey.key, "x-msys-subaccount": "2" },
        })
      ).status,
    ).toBe(403);
    const own = await createKey(asSub, "made by sub 1", ["tracking_domains/view"]);
    expect(own.subaccount_id).toBe(1);
    const seen = await (await asSub.call("GET", "/api-keys")).json<{ results: ApiKeyBody[] }>();
    expect(seen.results.map((k) => k.label).sort()).toEqual(["made by sub 1", "sub 1"]);
    const primaryKeys = await (
      await account.call("GET", "/api-keys", { headers: { "x-msys-subaccount": "0" } })
    ).json<{ results: ApiKeyBody[] }>();
    expect(primaryKeys.results.map((k) => k.label)).toEqual(["test"]);
    const primaryId = primaryKeys.results[0]?.id;
    expect((await asSub.call("GET", `/api-keys/${primaryId}`)).status).toBe(404);
    // Without the header, the primary key sees every key of the account.
    const all = await (await account.call("GET", "/api-keys")).json<{ results: ApiKeyBody[] }>();
    expect(all.results).toHaveLength(3);
  });

  it("gives a new subaccount's key the grants asked, within the caller's", async () => {
    const account = await newAccount();
    const made = await account.call("POST", "/subaccounts", {
      body: { name: "Hats", setup_api_key: true, key_grants: ["tracking_links/create"] },
    });
    expect(made.status).toBe(200);
    const created = (
      await made.json<{ results: { key: string; key_id: string; grants: Grant[] } }>()
    ).results;
    expect(created.grants).toEqual(["tracking_links/create"]);
    expect((await as(created.key).call("GET", "/tracking-domains")).status).toBe(403);
    const refused = await account.call("POST", "/subaccounts", {
      body: { name: "Caps", setup_api_key: true, key_grants: ["subaccounts/manage"] },
    });
    expect(refused.status).toBe(422);
    expect((await errorOf(refused))?.param).toBe("key_grants");
    const without = await account.call("POST", "/subaccounts", {
      body: { name: "Caps", setup_api_key: false, key_grants: ["account/view"] },
    });
    expect(without.status).toBe(422);
    expect((await errorOf(without))?.param).toBe("key_grants");
  });

  it("records when a key was last used, writing at most once an hour", async () => {
    const account = await newAccount();
    const made = await createKey(account, "probe", ["account/view"]);
    const lastUsed = async () =>
      (
        await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE public_id = ?")
          .bind(made.id)
          .first<{ last_used_at: string | null }>()
      )?.last_used_at;
    expect(await lastUsed()).toBeNull();
    expect((await as(made.key).call("GET", "/account")).status).toBe(200);
    await expect.poll(lastUsed).not.toBeNull();

    const setLastUsed = (at: string) =>
      env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE public_id = ?")
        .bind(at, made.id)
        .run();
    // The write goes through waitUntil: each call here waits for all of its waitUntil work, so
    // "nothing was written" is read after the work that would have written it, not after a sleep.
    const callAndFinish = async () => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(
        new Request<unknown, IncomingRequestCfProperties>("http://localhost/api/v1/account", {
          headers: { authorization: made.key },
        }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(response.status).toBe(200);
    };
    const tenMinutesAgo = new Date(Date.now() - 10 * 60_000).toISOString();
    await setLastUsed(tenMinutesAgo);
    await callAndFinish();
    expect(await lastUsed()).toBe(tenMinutesAgo);
    // The same call, an hour and more after the last write, does write (so the check above sees).
    await setLastUsed(new Date(Date.now() - 2 * 3_600_000).toISOString());
    await callAndFinish();
    expect(Date.parse((await lastUsed()) ?? "")).toBeGreaterThan(Date.now() - 60_000);
    const shown = await (await account.call("GET", `/api-keys/${made.id}`)).json<{
      results: ApiKeyBody;
    }>();
    expect(shown.results.last_used_at).toBe(await lastUsed());
  });

  it("holds an account to 100 keys that are not revoked", async () => {
    const account = await newAccount();
    for (let i = 0; i < 99; i++) await newKey(account.accountId, null, ["account/view"]);
    const over = await account.call("POST", "/api-keys", {
      body: { label: "101st", grants: ["account/view"] },
    });
    expect(over.status).toBe(403);
    expect((await errorOf(over))?.description).toContain("100 API keys");
  });

  it("gives a key stored without grants nothing", async () => {
    const account = await newAccount();
    const bare = await newKey(account.accountId, null, []);
    for (const path of [
      "/account",
      "/tracking-domains",
      "/webhooks",
      "/api-keys",
      "/events/engagement",
    ]) {
      expect((await as(bare).call("GET", path)).status, path).toBe(403);
    }
  });

  it("works only from the addresses in its valid_ips, saying so elsewhere", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/api-keys", {
      body: {
        label: "office",
        grants: ["account/view"],
        valid_ips: ["203.0.113.7/24", "2001:db8::1"],
      },
    });
    expect(response.status).toBe(200);
    const office = (await response.json<{ results: ApiKeyBody & { key: string } }>()).results;
    expect(office.valid_ips).toEqual(["203.0.113.0/24", "2001:db8::1/128"]);
    const from = (ip?: string) =>
      as(office.key).call("GET", "/account", {
        headers: ip === undefined ? {} : { "cf-connecting-ip": ip },
      });
    expect((await from("203.0.113.200")).status).toBe(200);
    expect((await from("2001:db8::1")).status).toBe(200);
    const elsewhere = await from("198.51.100.1");
    expect(elsewhere.status).toBe(403);
    expect((await errorOf(elsewhere))?.description).toContain("198.51.100.1");
    expect((await from()).status).toBe(403);

    const bad = await account.call("POST", "/api-keys", {
      body: { label: "x", grants: ["account/view"], valid_ips: ["10.0.0.0/8", "127.1"] },
    });
    expect(bad.status).toBe(422);
    expect((await errorOf(bad))?.param).toBe("valid_ips.1");
  });

  it("lets a key limited to some addresses give and manage only keys limited as much", async () => {
    const account = await newAccount();
    const office = { "cf-connecting-ip": "203.0.113.9" };
    const made = await account.call("POST", "/api-keys", {
      body: {
        label: "office admin",
        grants: ["api_keys/manage", "account/view"],
        valid_ips: ["203.0.113.0/24"],
      },
    });
    const admin = (await made.json<{ results: ApiKeyBody & { key: string } }>()).results;
    const call = (method: string, path: string, body?: unknown) =>
      as(admin.key).call(method, path, { body, headers: office });

    // Unlimited, or wider: refused, naming the field.
    for (const valid_ips of [[], ["203.0.112.0/23"]]) {
      const wider = await call("POST", "/api-keys", {
        label: "w",
        grants: ["account/view"],
        valid_ips,
      });
      expect(wider.status).toBe(403);
      expect((await errorOf(wider))?.param).toBe("valid_ips");
    }
    // Not said: as limited as the admin. Narrower: as asked.
    const inherited = await call("POST", "/api-keys", { label: "i", grants: ["account/view"] });
    expect((await inherited.json<{ results: ApiKeyBody }>()).results.valid_ips).toEqual([
      "203.0.113.0/24",
    ]);
    const narrower = await call("POST", "/api-keys", {
      label: "n",
      grants: ["account/view"],
      valid_ips: ["203.0.113.128/25"],
    });
    const narrow = (await narrower.json<{ results: ApiKeyBody }>()).results;
    expect(narrow.valid_ips).toEqual(["203.0.113.128/25"]);
    expect((await call("DELETE", `/api-keys/${narrow.id}`)).status).toBe(204);

    // An unlimited key with no more grants is still out of its reach; so is its own limit.
    const open = await createKey(account, "anywhere", ["account/view"]);
    const touch = await call("DELETE", `/api-keys/${open.id}`);
    expect(touch.status).toBe(403);
    expect((await errorOf(touch))?.description).toContain("addresses");
    const self = await call("PUT", `/api-keys/${admin.id}`, { valid_ips: ["203.0.113.9"] });
    expect(self.status).toBe(409);
  });

  it("forgets revoked keys after 90 days, keeping the rest", async () => {
    const account = await newAccount();
    const [old, recent] = [
      await createKey(account, "revoked long ago", ["account/view"]),
      await createKey(account, "revoked lately", ["account/view"]),
    ];
    for (const key of [old, recent]) {
      expect((await account.call("DELETE", `/api-keys/${key.id}`)).status).toBe(204);
    }
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE public_id = ?")
      .bind(new Date(Date.now() - revokedKeyRetentionMs - 60_000).toISOString(), old.id)
      .run();
    await pruneRevokedKeys(env.DB, new Date(Date.now() - revokedKeyRetentionMs));
    const left = await env.DB.prepare("SELECT label FROM api_keys WHERE account_id = ? ORDER BY id")
      .bind(account.accountId)
      .all<{ label: string }>();
    expect(left.results.map((r) => r.label)).toEqual(["test", "revoked lately"]);
  });

  it("is in the OpenAPI document", async () => {
    const doc = await (await callApi("GET", "/openapi.json")).json<{
      paths: Record<string, object>;
    }>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api-keys", "/api-keys/{id}"]));
  });
});
