// npm run ops:report against a real local D1 (wrangler, SQLite, the project's migrations): each
// kind of trouble seeded into the database shows up, with who must act, and --check exits 1 only
// when something is ours to act on.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Report } from "../../scripts/lib/ops-report";
import { projectRoot } from "../../scripts/lib/stack-config";
import { migrateLocalDatabase, wrangler } from "../../scripts/lib/wrangler";

const tsx = join(projectRoot, "node_modules/.bin/tsx");

function freshDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), "ops-report-"));
  migrateLocalDatabase(dir);
  return dir;
}

function report(dir: string, ...flags: string[]) {
  return spawnSync(tsx, ["scripts/ops-report.ts", "--persist-to", dir, ...flags], {
    cwd: projectRoot,
    encoding: "utf8",
  });
}

const iso = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
const hour = 3_600_000;
const day = 24 * hour;

describe("npm run ops:report", () => {
  it("reports each kind of trouble with who must act, and --check fails on ours", {
    timeout: 60_000,
  }, () => {
    const dir = freshDatabase();
    const domains: [string, string, string, Record<string, string | null>][] = [
      [
        "fine.shop.test",
        "managed",
        "valid",
        { tls_expires_at: iso(60 * day), tls_next_run_at: iso(day) },
      ],
      [
        "caa.shop.test",
        "managed",
        "failed",
        { tls_error_code: "caa:forbidden", tls_action_by: "customer" },
      ],
      [
        "caa2.shop.test",
        "managed",
        "failed",
        { tls_error_code: "caa:forbidden", tls_action_by: "customer" },
      ],
      [
        "ours.shop.test",
        "managed",
        "failed",
        { tls_error_code: "service:internal", tls_action_by: "provider" },
      ],
      [
        "stuck.shop.test",
        "managed",
        "pending",
        { tls_step: "finalize", tls_progress_at: iso(-2 * hour) },
      ],
      [
        "expiring.shop.test",
        "managed",
        "valid",
        { tls_expires_at: iso(3 * day), tls_next_run_at: iso(hour) },
      ],
      [
        "late.shop.test",
        "managed",
        "valid",
        { tls_expires_at: iso(40 * day), tls_next_run_at: iso(-hour) },
      ],
      [
        "proxy.shop.test",
        "self_managed",
        "unknown",
        { https_error_code: "https:tls", verified: "1" },
      ],
    ];
    const statements = [
      "INSERT INTO accounts (id, name) VALUES (1, 'ops')",
      ...domains.map(([domain, mode, status, extra]) => {
        const columns = [
          "domain",
          "account_id",
          "region",
          "https_mode",
          "tls_status",
          ...Object.keys(extra),
        ];
        const values = [domain, 1, "us", mode, status, ...Object.values(extra)].map((v) =>
          v === null ? "NULL" : typeof v === "number" ? String(v) : `'${v}'`,
        );
        return `INSERT INTO tracking_domains (${columns.join(", ")}) VALUES (${values.join(", ")})`;
      }),
      `INSERT INTO webhooks (id, account_id, name, target, events, auth_type, secrets, batch_attempts, last_failure)
       VALUES ('hook1', 1, 'Ops hook', 'https://hooks.example.com/', '["tls_status_change"]', 'none', 'sealed', 3, 'HTTP 500')`,
      `INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status)
       VALUES ('tls_status_change', 1, 0, 'fine.shop.test', 'valid'),
              ('tls_status_change', 1, 0, 'caa.shop.test', 'failed'),
              ('click', 1, 0, 'fine.shop.test', NULL)`,
      `INSERT INTO webhook_attempts (webhook_id, batch_id, events, attempt, outcome)
       VALUES ('hook1', 'b1', 2, 9, 'dropped')`,
      `INSERT INTO engagement_events (id, type, occurred_at, tracking_domain, account_id, secure)
       VALUES ('e1', 'click', '2026-11-27T10:00:00.000Z', 'fine.shop.test', 1, 1)`,
    ];
    wrangler([
      "d1",
      "execute",
      "DB",
      "--local",
      "--persist-to",
      dir,
      "--yes",
      "--command",
      `${statements.join(";\n")};`,
    ]);

    const run = report(dir, "--json", "--check");
    expect(run.status, run.stderr).toBe(1);
    const r = JSON.parse(run.stdout) as Report;
    expect(r.domains.total).toBe(8);
    expect(r.domains.byStatus).toContainEqual({
      https_mode: "managed",
      tls_status: "failed",
      count: 3,
    });
    expect(r.problems).toEqual([
      expect.objectContaining({
        error_code: "caa:forbidden",
        action_by: "customer",
        count: 2,
        example: "caa.shop.test",
      }),
      expect.objectContaining({ error_code: "service:internal", action_by: "provider", count: 1 }),
    ]);
    expect(r.stuck).toEqual([
      expect.objectContaining({ step: "finalize", count: 1, example: "stuck.shop.test" }),
    ]);
    expect(r.expiring).toMatchObject({ count: 1, example: "expiring.shop.test" });
    expect(r.overdue).toMatchObject({ count: 1, example: "late.shop.test" });
    expect(r.selfManagedFailing).toEqual([
      { error_code: "https:tls", count: 1, example: "proxy.shop.test" },
    ]);
    // The click is not a type the webhook asked for: two events wait, not three.
    expect(r.webhooks).toEqual([
      expect.objectContaining({ id: "hook1", waiting: 2, attempts: 3, last_failure: "HTTP 500" }),
    ]);
    expect(r.droppedBatchesLastDay).toBe(1);
    expect(r.lastEngagementAt).toBe("2026-11-27T10:00:00.000Z");
    // Ours: the internal error, the stuck order, the late object, the expiring certificate; the
    // customers' CAA records are theirs.
    expect(r.forProvider).toHaveLength(4);
    expect(r.forProvider.join("\n")).not.toContain("caa:forbidden");

    const text = report(dir).stdout;
    expect(text).toContain("caa:forbidden (failed; customer)  e.g. caa.shop.test");
    expect(text).toContain("stuck at finalize");
  });

  it("exits 0 with --check when nothing is ours to act on", () => {
    const run = report(freshDatabase(), "--check");
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain("Ours to act on now:\n  nothing");
  });

  it("says what went wrong, with exit status 2, when the database is not migrated", () => {
    const dir = mkdtempSync(join(tmpdir(), "ops-report-empty-"));
    const run = report(dir);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("no such table");
  });
});
