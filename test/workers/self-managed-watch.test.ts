// The Cron watch over self-managed domains: it probes each verified self-managed domain again a
// day after a pass and an hour after a failure, and a failure turns new links to http:// with the
// reason on the domain, leaving the domain verified (its links keep using it).
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { watchSelfManaged } from "../../src/domains/proxy-probe";
import { newAccount, type TestAccount, uniqueDomain } from "./helpers";

const now = new Date();
const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3600_000).toISOString();

/** A verified self-managed domain whose last probe was at `checkedAt`, passing or not. */
async function selfManaged(
  account: TestAccount,
  checkedAt: string,
  errorCode: string | null,
): Promise<string> {
  const domain = uniqueDomain();
  const created = await account.call("POST", "/tracking-domains", {
    body: { domain, https_mode: "self_managed" },
  });
  expect(created.status).toBe(200);
  await env.DB.prepare(
    `UPDATE tracking_domains SET verified = 1, cname_status = 'valid', https_checked_at = ?2,
       https_error_code = ?3, https_detail = 'set by the test' WHERE domain = ?1`,
  )
    .bind(domain, checkedAt, errorCode)
    .run();
  return domain;
}

interface Shown {
  status: { verified: boolean };
  https_check: { checked_at: string; passed: boolean; error_code: string | null; detail: string };
}

async function shown(account: TestAccount, domain: string): Promise<Shown> {
  const response = await account.call("GET", `/tracking-domains/${domain}`);
  return (await response.json<{ results: Shown }>()).results;
}

/** The scheme of a link minted now for a message sent from a domain tracked by `domain`. */
async function linkScheme(account: TestAccount, domain: string): Promise<string> {
  const sending = `mail.${domain}`;
  await account.call("POST", "/sending-domains", {
    body: { domain: sending, tracking_domain: domain },
  });
  const minted = await account.call("POST", "/tracking-links", {
    body: { sending_domain: sending, links: [{ url: "https://shop.example/sale" }] },
  });
  expect(minted.status).toBe(200);
  const body = await minted.json<{ results: { links: { tracked_url: string }[] } }>();
  return new URL(body.results.links[0]?.tracked_url ?? "").protocol;
}

describe("the watch over self-managed domains", () => {
  it("probes those due (a day after a pass, an hour after a failure), and only those", async () => {
    const account = await newAccount();
    const passedLongAgo = await selfManaged(account, hoursAgo(25), null);
    const passedRecently = await selfManaged(account, hoursAgo(2), null);
    const failedLongAgo = await selfManaged(account, hoursAgo(2), "https:tcp");
    const failedRecently = await selfManaged(account, hoursAgo(0.5), "https:tcp");
    expect(await linkScheme(account, passedLongAgo)).toBe("https:");

    const report = await watchSelfManaged(env, now);
    expect(report).toEqual({ probed: 2, passed: 0, failed: 2, admissionsRead: 0, admitted: 0 });

    // These names do not resolve: the probe fails at DNS, says so, and links fall back to http.
    for (const domain of [passedLongAgo, failedLongAgo]) {
      const after = await shown(account, domain);
      expect(after.https_check.passed).toBe(false);
      expect(after.https_check.error_code).toBe("https:dns");
      expect(Date.parse(after.https_check.checked_at)).toBeGreaterThanOrEqual(now.getTime());
      expect(after.status.verified).toBe(true);
    }
    expect(await linkScheme(account, passedLongAgo)).toBe("http:");
    for (const domain of [passedRecently, failedRecently]) {
      expect((await shown(account, domain)).https_check.detail).toBe("set by the test");
    }

    // Probed a moment ago: nothing is due again until an hour has passed.
    expect(await watchSelfManaged(env, now)).toEqual({
      probed: 0,
      passed: 0,
      failed: 0,
      admissionsRead: 0,
      admitted: 0,
    });
  });

  it("leaves alone domains that are not self-managed or were never verified", async () => {
    const account = await newAccount();
    const switched = await selfManaged(account, hoursAgo(48), null);
    await account.call("PUT", `/tracking-domains/${switched}`, { body: { https_mode: "none" } });
    const unverified = await selfManaged(account, hoursAgo(48), null);
    await env.DB.prepare("UPDATE tracking_domains SET verified = 0 WHERE domain = ?")
      .bind(unverified)
      .run();
    expect(await watchSelfManaged(env, now)).toEqual({
      probed: 0,
      passed: 0,
      failed: 0,
      admissionsRead: 0,
      admitted: 0,
    });
  });

  it("probes at most HTTPS_PROBES_PER_TICK a tick, the longest unprobed first, and none at 0", async () => {
    const account = await newAccount();
    const newer = await selfManaged(account, hoursAgo(30), null);
    const oldest = await selfManaged(account, hoursAgo(50), null);
    const off = { ...env, HTTPS_PROBES_PER_TICK: "0" };
    expect(await watchSelfManaged(off, now)).toEqual({
      probed: 0,
      passed: 0,
      failed: 0,
      admissionsRead: 0,
      admitted: 0,
    });

    const one = { ...env, HTTPS_PROBES_PER_TICK: "1" };
    expect(await watchSelfManaged(one, now)).toMatchObject({ probed: 1 });
    expect((await shown(account, oldest)).https_check.detail).not.toBe("set by the test");
    expect((await shown(account, newer)).https_check.detail).toBe("set by the test");
    expect(await watchSelfManaged(one, now)).toMatchObject({ probed: 1 });
    expect((await shown(account, newer)).https_check.detail).not.toBe("set by the test");
  });
});
