// The Cron sweep: the backstop behind each object's own alarm. Every tick reads one page of
// domains whose object should have acted by now (renewals, renewal-window checks, retries, steps
// of a stuck order) from an index, wakes those objects (idempotent), and marks expired the
// serving certificates past notAfter. A cursor carries a tick's unfinished page to the next, so
// the cost of a tick follows the number of due domains, never the number of domains.
import { domainCertificateStub } from "../../durable-objects/stubs";
import { loadConfig } from "../config";
import {
  loadSweepCursor,
  markExpired,
  type OverdueCertificate,
  overdueCertificates,
  saveSweepCursor,
} from "../domains/repository";
import { forEachLimited } from "../util/concurrency";
import { logInfo, logProblem, messageOf } from "../util/log";

export interface SweepReport {
  /** Overdue domains read this tick (at most the page size). */
  overdue: number;
  woken: number;
  failed: number;
  expired: number;
  /** More overdue domains wait behind the cursor. */
  more: boolean;
}

export interface SweepOptions {
  now: Date;
  pageSize: number;
  /** How late an object's own alarm may be before the sweep steps in. */
  graceMs?: number;
  concurrency?: number;
}

export type Poke = (domain: OverdueCertificate) => Promise<boolean>;

export async function sweep(
  db: D1Database,
  poke: Poke,
  options: SweepOptions,
): Promise<SweepReport> {
  const { now, pageSize } = options;
  const before = new Date(now.getTime() - (options.graceMs ?? 60_000)).toISOString();
  const cursor = await loadSweepCursor(db);
  const page = await overdueCertificates(db, before, cursor, pageSize);
  let woken = 0;
  let failed = 0;
  await forEachLimited(page, options.concurrency ?? 25, async (next) => {
    try {
      if (await poke(next)) woken++;
    } catch (error) {
      failed++;
      logProblem("sweep_poke_failed", { domain: next.domain, message: messageOf(error) });
    }
  });
  const more = page.length === pageSize;
  const last = page[page.length - 1];
  // A full page: continue after it next tick. A short one: the next tick starts from the top.
  await saveSweepCursor(
    db,
    more && last ? { nextRunAt: last.nextRunAt, domain: last.domain } : null,
  );
  const expired = await markExpired(db, now.toISOString(), pageSize);
  return { overdue: page.length, woken, failed, expired, more };
}

/** The scheduled handler's work: one sweep tick against the worker's own D1 and objects. */
export async function sweepDueCertificates(env: Env, now: Date): Promise<SweepReport> {
  const config = loadConfig(env);
  const report = await sweep(env.DB, (d) => domainCertificateStub(env, d.domain, d.region).wake(), {
    now,
    pageSize: config.sweepPageSize,
  });
  logInfo("sweep", { ...report });
  return report;
}
