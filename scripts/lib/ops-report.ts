// The operator's health report over D1 (npm run ops:report): what is failing and who must act,
// what is stuck or late on our side, and whether webhooks and the click pipeline keep up. Pure:
// the SQL to run and what its rows mean; scripts/ops-report.ts runs it through wrangler.
// Three queries scan the tracking-domain table (a million rows read cost about $0.001 in D1),
// the rest use indexes; only the engagement table's newest row is read.
import { stuckAfterMs } from "../../src/issuance/machine";
import { sqlString } from "./api-key-sql";

/** How late an object's own alarm may be before the report calls it overdue (the sweep's job). */
export const overdueAfterMs = 15 * 60_000;
/** A valid certificate this close to expiry should have been renewed long before. */
export const expiringWithinMs = 7 * 24 * 3_600_000;

export interface ReportQueries {
  byStatus: string;
  problems: string;
  stuck: string;
  expiring: string;
  overdue: string;
  selfManaged: string;
  webhooks: string;
  droppedBatches: string;
  lastEngagement: string;
}

/** The report's queries for `now`, with every value written in (wrangler takes literal SQL). */
export function reportQueries(now: Date): ReportQueries {
  const at = (ms: number) => sqlString(new Date(now.getTime() + ms).toISOString());
  return {
    byStatus: `SELECT https_mode, tls_status, COUNT(*) AS count FROM tracking_domains
      GROUP BY https_mode, tls_status ORDER BY https_mode, tls_status`,
    problems: `SELECT tls_status, tls_error_code AS error_code, tls_action_by AS action_by,
      COUNT(*) AS count, MIN(domain) AS example, MIN(tls_progress_at) AS since
      FROM tracking_domains WHERE tls_error_code IS NOT NULL
      GROUP BY tls_status, tls_error_code, tls_action_by ORDER BY count DESC, error_code`,
    stuck: `SELECT tls_step AS step, COUNT(*) AS count, MIN(domain) AS example,
      MIN(tls_progress_at) AS since FROM tracking_domains
      WHERE tls_status = 'pending' AND tls_error_code IS NULL AND tls_progress_at < ${at(-stuckAfterMs)}
      GROUP BY tls_step ORDER BY count DESC`,
    expiring: `SELECT COUNT(*) AS count, MIN(tls_expires_at) AS earliest, MIN(domain) AS example
      FROM tracking_domains WHERE tls_status = 'valid' AND tls_expires_at < ${at(expiringWithinMs)}`,
    overdue: `SELECT COUNT(*) AS count, MIN(tls_next_run_at) AS oldest, MIN(domain) AS example
      FROM tracking_domains WHERE tls_next_run_at < ${at(-overdueAfterMs)}`,
    selfManaged: `SELECT https_error_code AS error_code, COUNT(*) AS count, MIN(domain) AS example
      FROM tracking_domains
      WHERE https_mode = 'self_managed' AND verified = 1 AND https_error_code IS NOT NULL
      GROUP BY https_error_code ORDER BY count DESC`,
    webhooks: `SELECT w.id, w.account_id, w.name, w.batch_attempts AS attempts, w.last_failure,
      (SELECT COUNT(*) FROM webhook_events e
        WHERE e.account_id = w.account_id AND e.id > w.cursor
          AND (w.subaccount_id IS NULL OR e.subaccount_id = w.subaccount_id)
          AND e.type IN (SELECT value FROM json_each(w.events))) AS waiting
      FROM webhooks w WHERE w.active = 1 ORDER BY waiting DESC, attempts DESC, w.id LIMIT 10`,
    droppedBatches: `SELECT COUNT(*) AS count FROM webhook_attempts
      WHERE outcome = 'dropped' AND attempted_at >= ${at(-24 * 3_600_000)}`,
    lastEngagement: `SELECT occurred_at FROM engagement_events ORDER BY rowid DESC LIMIT 1`,
  };
}

type Row = Record<string, unknown>;
export type ReportRows = Record<keyof ReportQueries, Row[]>;

export interface Report {
  generatedAt: string;
  domains: { total: number; byStatus: { https_mode: string; tls_status: string; count: number }[] };
  problems: {
    tls_status: string;
    error_code: string;
    action_by: string | null;
    count: number;
    example: string;
    since: string | null;
  }[];
  stuck: { step: string | null; count: number; example: string; since: string }[];
  expiring: { count: number; earliest: string | null; example: string | null };
  overdue: { count: number; oldest: string | null; example: string | null };
  selfManagedFailing: { error_code: string; count: number; example: string }[];
  webhooks: {
    id: string;
    account_id: number;
    name: string;
    waiting: number;
    attempts: number;
    last_failure: string | null;
  }[];
  droppedBatchesLastDay: number;
  lastEngagementAt: string | null;
  /** What is ours to act on now; empty when nothing is. */
  forProvider: string[];
}

const first = (rows: Row[]): Row => rows[0] ?? {};

export function buildReport(rows: ReportRows, now: Date): Report {
  const byStatus = rows.byStatus as Report["domains"]["byStatus"];
  const problems = rows.problems as Report["problems"];
  const stuck = rows.stuck as Report["stuck"];
  const expiring = first(rows.expiring) as Report["expiring"];
  const overdue = first(rows.overdue) as Report["overdue"];
  const webhooks = (rows.webhooks as Report["webhooks"]).filter(
    (w) => w.waiting > 0 || w.attempts > 0,
  );
  const forProvider: string[] = [];
  const providerProblems = problems.filter((p) => p.action_by === "provider");
  for (const p of providerProblems) {
    forProvider.push(
      `${p.count} domain(s) with ${p.error_code} (${p.tls_status}), e.g. ${p.example}`,
    );
  }
  for (const s of stuck) {
    forProvider.push(
      `${s.count} domain(s) stuck at ${s.step ?? "an unknown step"}, e.g. ${s.example}`,
    );
  }
  if (overdue.count > 0) {
    forProvider.push(
      `${overdue.count} certificate object(s) overdue since ${overdue.oldest}: is the Cron sweep running? e.g. ${overdue.example}`,
    );
  }
  if (expiring.count > 0) {
    forProvider.push(
      `${expiring.count} valid certificate(s) expire within 7 days, the first at ${expiring.earliest}: renewals are behind, e.g. ${expiring.example}`,
    );
  }
  return {
    generatedAt: now.toISOString(),
    domains: { total: byStatus.reduce((sum, r) => sum + r.count, 0), byStatus },
    problems,
    stuck,
    expiring,
    overdue,
    selfManagedFailing: rows.selfManaged as Report["selfManagedFailing"],
    webhooks,
    droppedBatchesLastDay: Number(first(rows.droppedBatches).count ?? 0),
    lastEngagementAt: (first(rows.lastEngagement).occurred_at as string | undefined) ?? null,
    forProvider,
  };
}

/** The report as an operator reads it in a terminal. */
export function formatReport(report: Report): string {
  const lines = [`tracking-edge health, ${report.generatedAt}`, ""];
  lines.push(`Tracking domains: ${report.domains.total}`);
  for (const r of report.domains.byStatus) {
    lines.push(`  ${r.https_mode.padEnd(13)} ${r.tls_status.padEnd(12)} ${r.count}`);
  }
  lines.push("", "Problems (who must act):");
  if (report.problems.length === 0) lines.push("  none");
  for (const p of report.problems) {
    lines.push(
      `  ${String(p.count).padStart(6)}  ${p.error_code} (${p.tls_status}; ${p.action_by ?? "?"})  e.g. ${p.example}`,
    );
  }
  lines.push("", "Self-managed domains failing the check through their proxy:");
  if (report.selfManagedFailing.length === 0) lines.push("  none");
  for (const s of report.selfManagedFailing) {
    lines.push(`  ${String(s.count).padStart(6)}  ${s.error_code}  e.g. ${s.example}`);
  }
  lines.push("", "Webhooks behind or failing:");
  if (report.webhooks.length === 0) lines.push("  none");
  for (const w of report.webhooks) {
    lines.push(
      `  ${w.name} (${w.id}, account ${w.account_id}): ${w.waiting} event(s) waiting, ${w.attempts} failed attempt(s)${w.last_failure ? `; last: ${w.last_failure}` : ""}`,
    );
  }
  lines.push(`  batches given up in the last day: ${report.droppedBatchesLastDay}`);
  lines.push("", `Newest click or open written: ${report.lastEngagementAt ?? "none yet"}`);
  lines.push("", "Ours to act on now:");
  if (report.forProvider.length === 0) lines.push("  nothing");
  for (const item of report.forProvider) lines.push(`  - ${item}`);
  return lines.join("\n");
}
