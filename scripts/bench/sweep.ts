// `npm run bench:sweep [-- --due 100] [-- --sizes 1000,100000,1000000] [-- --update-readme]`
// The cost of one Cron sweep tick against the number of tracking domains: the built worker runs
// in Miniflare with a local D1 seeded with N domains, of which the same number are overdue in
// every case; the scheduled handler is invoked as Cloudflare would and timed. The smallest size
// is the baseline the others are compared with, in the same run.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { Miniflare } from "miniflare";
import { median, updateReadmeBlock } from "../lib/bench";
import { generatedKeyRing, localWorkerVars, projectRoot } from "../lib/stack-config";
import { wrangler } from "../lib/wrangler";

const ticks = 5;

/** The part of Miniflare's worker handle this uses (its types leave scheduled out). */
interface ScheduledFetcher {
  scheduled(options: { scheduledTime: Date; cron: string }): Promise<{ outcome: string }>;
}

async function measure(size: number, due: number, script: string): Promise<number[]> {
  const persist = mkdtempSync(join(tmpdir(), "bench-sweep-"));
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: script, contents: readFileSync(script, "utf8") }],
    modulesRoot: dirname(script),
    compatibilityDate: "2026-04-26",
    d1Databases: { DB: "bench" },
    d1Persist: join(persist, "d1"),
    durableObjects: {
      DOMAIN_CERTIFICATE: { className: "DomainCertificate", useSQLite: true },
      ACME_ACCOUNT: { className: "AcmeAccount", useSQLite: true },
    },
    durableObjectsPersist: join(persist, "do"),
    bindings: {
      ...localWorkerVars,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      SWEEP_PAGE_SIZE: "500",
    },
  });
  try {
    const db = await mf.getD1Database("DB");
    for (const migration of await readD1Migrations(`${projectRoot}/migrations`)) {
      for (const query of migration.queries) await db.prepare(query).run();
    }
    await db.prepare("INSERT INTO accounts (id, name) VALUES (1, 'bench')").run();
    const now = Date.now();
    // Seeded in chunks with a recursive CTE: `due` rows overdue, the rest due over the next 60 days.
    const chunk = 100_000;
    for (let from = 0; from < size; from += chunk) {
      const to = Math.min(size, from + chunk);
      await db
        .prepare(
          `WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
           INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified, tls_status, tls_expires_at, tls_next_run_at)
           SELECT 'd' || i || '.bench.test', 1, 'us', 'managed', 1, 'valid',
                  strftime('%Y-%m-%dT%H:%M:%fZ', (?3 + 90 * 86400000) / 1000.0, 'unixepoch'),
                  CASE WHEN i < ?4 THEN strftime('%Y-%m-%dT%H:%M:%fZ', (?3 - 3600000) / 1000.0, 'unixepoch')
                       ELSE strftime('%Y-%m-%dT%H:%M:%fZ', (?3 + (i % 5184000) * 1000) / 1000.0, 'unixepoch') END
           FROM n`,
        )
        .bind(from, to, now, due)
        .run();
    }
    const count = await db
      .prepare("SELECT COUNT(*) AS n FROM tracking_domains")
      .first<{ n: number }>();
    if (count?.n !== size) throw new Error(`seeded ${count?.n} rows, wanted ${size}`);
    const worker = await mf.getWorker();
    const times: number[] = [];
    for (let i = 0; i < ticks; i++) {
      const started = performance.now();
      const result = await (worker as unknown as ScheduledFetcher).scheduled({
        scheduledTime: new Date(),
        cron: "* * * * *",
      });
      times.push(performance.now() - started);
      if (result.outcome !== "ok") throw new Error(`the sweep failed: ${result.outcome}`);
    }
    return times;
  } finally {
    await mf.dispose();
    rmSync(persist, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      due: { type: "string", default: "100" },
      sizes: { type: "string", default: "1000,100000,1000000" },
      "update-readme": { type: "boolean", default: false },
    },
  });
  const due = Number(values.due);
  const sizes = values.sizes.split(",").map(Number);
  const outdir = mkdtempSync(join(tmpdir(), "bench-sweep-build-"));
  wrangler(["deploy", "--dry-run", "--outdir", outdir]);
  const rows: { size: number; median: number; times: number[] }[] = [];
  try {
    for (const size of sizes) {
      console.error(`… ${size.toLocaleString("en")} domains, ${due} overdue`);
      const times = await measure(size, due, join(outdir, "edge.js"));
      rows.push({ size, median: median(times), times });
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  const baseline = rows[0]?.median ?? Number.NaN;
  const table = [
    `One Cron sweep tick (median of ${ticks}) with ${due} overdue domains, built worker in Miniflare, local D1:`,
    "",
    "| tracking domains | sweep tick, ms | vs the smallest |",
    "|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.size.toLocaleString("en")} | ${r.median.toFixed(1)} | ${(r.median / baseline).toFixed(2)}× |`,
    ),
  ].join("\n");
  console.log(table);
  if (values["update-readme"]) updateReadmeBlock("sweep", table);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
