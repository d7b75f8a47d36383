// The API's rate limit (Workers Rate Limiting; wrangler.toml sets production's, this project a
// lower one, TEST_RATE_LIMITS): an account's DNS and HTTPS checks (verify, certificate/check,
// webhook validate) a minute, across its keys. Over it: 429 in the error shape, saying which limit, with Retry-After;
// other calls and other accounts are unaffected. The limit counts in fixed minutes, so a run that
// crosses a minute boundary may need up to twice the limit before the 429: the test allows that.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type ErrorBody, newAccount, newKey, uniqueDomain } from "./helpers";

const lookupLimit = env.TEST_RATE_LIMITS.lookups;

/** Calls until the first 429 (at most twice the limit and one); how many passed before it. */
async function untilLimited(call: () => Promise<Response>, limit: number) {
  for (let passed = 0; passed <= 2 * limit; passed++) {
    const response = await call();
    if (response.status === 429) return { passed, response };
    expect(response.status).toBeLessThan(400);
  }
  throw new Error(`no 429 after ${2 * limit + 1} calls`);
}

describe("the API's rate limit", () => {
  it("limits an account's DNS and HTTPS checks across its keys, and no other account's", {
    timeout: 60_000,
  }, async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    expect(
      (await account.call("POST", "/tracking-domains", { body: { domain, secure: false } })).status,
    ).toBe(200);
    const hook = await account.call("POST", "/webhooks", {
      body: { name: "checks", target: "https://hooks.example.com/tls" },
    });
    const { id: hookId } = ((await hook.json()) as { results: { id: string } }).results;
    const second = await newKey(account.accountId, null);
    let turn = 0;
    // Alternating keys: the checks count against the account, not the key.
    const { passed, response } = await untilLimited(
      () =>
        account.call("POST", `/tracking-domains/${domain}/verify`, {
          headers: turn++ % 2 === 0 ? {} : { authorization: second },
        }),
      lookupLimit,
    );
    expect(passed).toBeGreaterThanOrEqual(lookupLimit);
    expect(response.headers.get("retry-after")).toBe("60");
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "This account's DNS and HTTPS checks",
    );
    // A webhook's test POST reaches out too: it counts against the same limit.
    expect((await account.call("POST", `/webhooks/${hookId}/validate`)).status).toBe(429);
    // Reading is not a check: still allowed. Another account's checks are its own.
    expect((await account.call("GET", `/tracking-domains/${domain}`)).status).toBe(200);
    const stranger = await newAccount();
    const theirs = uniqueDomain();
    await stranger.call("POST", "/tracking-domains", { body: { domain: theirs, secure: false } });
    expect((await stranger.call("POST", `/tracking-domains/${theirs}/verify`)).status).toBe(200);
  });
});
