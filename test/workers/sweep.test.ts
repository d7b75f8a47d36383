// The Cron sweep inside workerd: it wakes the objects that are due (renewals first of all),
// leaves the others alone, marks expired certificates, and reads one bounded page per tick.
import { createScheduledController, env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { domainCertificateStub } from "../../durable-objects/stubs";
import { type CertificateState, initialState } from "../../src/issuance/state";
import { sweep } from "../../src/issuance/sweep";
import worker from "../../workers/edge";
import { newAccount, uniqueDomain } from "./helpers";

const minute = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** A domain row (and, with `renewsAt`, an object holding an installed certificate). */
async function seed(
  accountId: number,
  options: { nextRunAt?: number; renewsAt?: number; expiresAt?: number; status?: string },
) {
  const domain = uniqueDomain();
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified, tls_status, tls_next_run_at, tls_expires_at)
     VALUES (?, ?, 'us', 'managed', 1, ?, ?, ?)`,
  )
    .bind(
      domain,
      accountId,
      options.status ?? "valid",
      options.nextRunAt === undefined ? null : iso(options.nextRunAt),
      options.expiresAt === undefined ? null : iso(options.expiresAt),
    )
    .run();
  if (options.renewsAt !== undefined) {
    const state: CertificateState = {
      ...initialState(domain, "us", new Date(now - 60 * minute)),
      enabled: true,
      phase: "installed",
      status: "valid",
      nextRunAt: iso(options.renewsAt),
      current: {
        serial: "0a",
        notBefore: iso(now - 60 * minute),
        notAfter: iso(now + 60 * 24 * 60 * minute),
        issuedAt: iso(now - 60 * minute),
        renewsAt: iso(options.renewsAt),
        spread: 0,
        ariId: null,
        ari: null,
        nextAriCheckAt: null,
      },
    };
    await runInDurableObject(domainCertificateStub(env, domain, "us"), (_, ctx) => {
      ctx.storage.sql.exec(
        "INSERT INTO lifecycle (id, state, revision) VALUES (1, ?, 1)",
        JSON.stringify(state),
      );
    });
  }
  return domain;
}

async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("not within the time allowed");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const alarmOf = (domain: string) =>
  runInDurableObject(domainCertificateStub(env, domain, "us"), (_, ctx) => ctx.storage.getAlarm());

async function runCron(scheduledTime: number, extraEnv: Partial<Env> = {}) {
  // The handler awaits the whole sweep, as Cloudflare runs it.
  await worker.scheduled(createScheduledController({ scheduledTime, cron: "* * * * *" }), {
    ...env,
    ...extraEnv,
  });
}

beforeEach(async () => {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM tracking_domains"),
    env.DB.prepare("DELETE FROM sweep_cursor"),
  ]);
});

describe("the Cron sweep", () => {
  it("wakes a domain whose renewal is overdue, and leaves one that is not due alone", async () => {
    const { accountId } = await newAccount();
    const now = Date.now();
    const due = await seed(accountId, { nextRunAt: now - 5 * minute, renewsAt: now - 5 * minute });
    const later = await seed(accountId, {
      nextRunAt: now + 24 * 60 * minute,
      renewsAt: now + 24 * 60 * minute,
    });
    await runCron(now);

    // The alarm it set (for now: workerd runs it at once) starts the renewal, while the
    // certificate stays valid; the domain that is not due has no alarm and no events.
    const events = await eventually(async () => {
      const found = await domainCertificateStub(env, due, "us").events();
      return found.some((e) => e.reason.includes("renewal due")) ? found : undefined;
    });
    expect(events.find((e) => e.reason.includes("renewal due"))).toMatchObject({
      from: "installed",
      to: "check",
      status: "valid",
    });
    expect(await alarmOf(later)).toBeNull();
    expect(await domainCertificateStub(env, later, "us").events()).toEqual([]);
  });

  it("leaves alone a domain whose own alarm is only just due (the object handles it)", async () => {
    const { accountId } = await newAccount();
    const now = Date.now();
    const onTime = await seed(accountId, { nextRunAt: now - 10_000, renewsAt: now - 10_000 });
    // In the same tick, an overdue one is woken: the tick ran, and would have set an alarm.
    const overdue = await seed(accountId, {
      nextRunAt: now - 5 * minute,
      renewsAt: now - 5 * minute,
    });
    await runCron(now);
    await eventually(async () =>
      (await domainCertificateStub(env, overdue, "us").events()).length > 0 ? true : undefined,
    );
    expect(await alarmOf(onTime)).toBeNull();
    expect(await domainCertificateStub(env, onTime, "us").events()).toEqual([]);
  });

  it("marks expired a certificate past its expiry that still shows valid", async () => {
    const { accountId } = await newAccount();
    const now = Date.now();
    const expired = await seed(accountId, { expiresAt: now - minute });
    const fresh = await seed(accountId, { expiresAt: now + minute });
    await runCron(now);
    const status = async (d: string) =>
      (
        await env.DB.prepare("SELECT tls_status FROM tracking_domains WHERE domain = ?")
          .bind(d)
          .first<{ tls_status: string }>()
      )?.tls_status;
    expect(await status(expired)).toBe("expired");
    expect(await status(fresh)).toBe("valid");
  });

  it("reads one bounded page per tick and continues where it stopped", async () => {
    const { accountId } = await newAccount();
    const now = Date.now();
    const overdue = new Set<string>();
    for (let i = 0; i < 12; i++)
      overdue.add(await seed(accountId, { nextRunAt: now - (20 + i) * minute }));
    await seed(accountId, { nextRunAt: now + minute });

    const pages: string[][] = [];
    for (let tick = 0; tick < 3; tick++) {
      const poked: string[] = [];
      const report = await sweep(
        env.DB,
        async (d) => {
          poked.push(d.domain);
          return true;
        },
        {
          now: new Date(now),
          pageSize: 5,
        },
      );
      expect(report).toMatchObject({
        overdue: poked.length,
        woken: poked.length,
        failed: 0,
        more: tick < 2,
      });
      pages.push(poked);
    }
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(new Set(pages.flat())).toEqual(overdue);
    // The next tick starts from the top again.
    const again = await sweep(env.DB, async () => false, { now: new Date(now), pageSize: 5 });
    expect(again).toMatchObject({ overdue: 5, woken: 0, more: true });
  });

  it("takes its page size from SWEEP_PAGE_SIZE", async () => {
    const { accountId } = await newAccount();
    const now = Date.now();
    for (let i = 0; i < 4; i++) await seed(accountId, { nextRunAt: now - (20 + i) * minute });
    await runCron(now, { SWEEP_PAGE_SIZE: "3" });
    const cursor = await env.DB.prepare("SELECT domain FROM sweep_cursor").first();
    expect(cursor).not.toBeNull();
  });

  it("does not wake a domain whose managed HTTPS was turned off", async () => {
    const account = await newAccount();
    const now = Date.now();
    const domain = await seed(account.accountId, {
      nextRunAt: now - 5 * minute,
      renewsAt: now - 5 * minute,
    });
    await account.call("PUT", `/tracking-domains/${domain}`, { body: { secure: false } });
    const row = await env.DB.prepare(
      "SELECT tls_next_run_at, tls_status FROM tracking_domains WHERE domain = ?",
    )
      .bind(domain)
      .first();
    expect(row).toMatchObject({ tls_next_run_at: null, tls_status: "unknown" });
    // In the same tick, a domain still managed and overdue is woken.
    const managed = await seed(account.accountId, {
      nextRunAt: now - 5 * minute,
      renewsAt: now - 5 * minute,
    });
    await runCron(now);
    await eventually(async () =>
      (await domainCertificateStub(env, managed, "us").events()).some((e) =>
        e.reason.includes("renewal due"),
      )
        ? true
        : undefined,
    );
    expect(await alarmOf(domain)).toBeNull();
    expect(
      (await domainCertificateStub(env, domain, "us").events()).some((e) =>
        e.reason.includes("renewal due"),
      ),
    ).toBe(false);
  });
});
