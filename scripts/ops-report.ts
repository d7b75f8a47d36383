// `npm run ops:report [-- --remote | --persist-to DIR] [--json] [--check]`
// The operator's health report (scripts/lib/ops-report.ts) from the local or the deployed D1:
// domains by status, problems by error code and who must act, stuck and overdue certificates,
// certificates close to expiry, self-managed domains failing, webhooks behind, and the newest
// click written. --check exits 1 when something is ours to act on (for a monitor to run).
import { parseArgs } from "node:util";
import { buildReport, formatReport, type ReportRows, reportQueries } from "./lib/ops-report";
import { executeD1 } from "./lib/wrangler";

const usage = "usage: npm run ops:report -- [--remote | --persist-to DIR] [--json] [--check]";

function main(): void {
  const { values } = parseArgs({
    options: {
      remote: { type: "boolean", default: false },
      "persist-to": { type: "string" },
      json: { type: "boolean", default: false },
      check: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.error(usage);
    return;
  }
  const now = new Date();
  const queries = reportQueries(now);
  const names = Object.keys(queries) as (keyof typeof queries)[];
  // One wrangler call for all of them: D1 answers each statement with its own result.
  const results = executeD1(names.map((name) => `${queries[name]};`).join("\n"), {
    remote: values.remote,
    persistTo: values["persist-to"],
  });
  if (results.length !== names.length) {
    throw new Error(`expected ${names.length} results from D1, got ${results.length}`);
  }
  const rows = Object.fromEntries(names.map((name, i) => [name, results[i] ?? []]));
  const report = buildReport(rows as ReportRows, now);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
  if (values.check && report.forProvider.length > 0) process.exitCode = 1;
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 2;
}
