// `npm run bench:onboard [-- --domains 100] [-- --waves 5] [-- --update-readme]`
// An onboarding wave as a sender's customers make it: N domains created and verified through the
// API at once, each CNAME in place, with managed HTTPS, until every one is valid. The worker runs
// with `wrangler dev` (workerd, local D1, its Durable Objects and alarms) against the local stack's
// Pebble, which validates HTTP-01 against the worker as Let's Encrypt would against the edge. The
// wave runs `--waves` times in one run; per wave it prints the median and the worst seconds from
// creation to valid, and the orders placed (read from each domain's events), then the median of
// the waves' medians, the worst of their worsts and their ratio (the long tail: at most 1.5).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLocalApiKeys } from "../lib/api-key-sql";
import { median, updateReadmeBlock } from "../lib/bench";
import { startStack } from "../lib/local-stack";
import { startLocalWorker } from "../lib/local-worker";
import { sleep } from "../lib/processes";
import {
  dynamicZone,
  generatedKeyRing,
  generatedToken,
  localWorkerVars,
  ports,
  urls,
} from "../lib/stack-config";
import { migrateLocalDatabase } from "../lib/wrangler";

const { values } = parseArgs({
  options: {
    domains: { type: "string", default: "100" },
    waves: { type: "string", default: "5" },
    "update-readme": { type: "boolean", default: false },
  },
});
const domainsPerWave = Number(values.domains);
const waves = Number(values.waves);

interface Wave {
  seconds: number[];
  orders: number;
  wallSeconds: number;
}

/** One API call; a connection `wrangler dev`'s proxy drops under load is tried again. */
async function api(base: string, key: string, method: string, path: string, body?: unknown) {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: { authorization: key, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return {
        status: response.status,
        body: (await response.json().catch(() => null)) as unknown,
      };
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

async function setCname(domain: string): Promise<void> {
  const response = await fetch(`${urls.challtestsrv}/set-cname`, {
    method: "POST",
    body: JSON.stringify({ host: `${domain}.`, target: "v2.track-endpoint.test." }),
  });
  if (!response.ok) throw new Error(`challtestsrv: HTTP ${response.status}`);
}

async function runWave(base: string, key: string, wave: number): Promise<Wave> {
  const tag = Math.random().toString(36).slice(2, 7);
  const names = Array.from(
    { length: domainsPerWave },
    (_, i) => `w${wave}-${i}-${tag}.onboard.${dynamicZone}`,
  );
  const started = performance.now();
  const startedAt = new Map<string, number>();
  // Customers' requests arrive together: 25 at a time.
  await eachLimited(names, 25, async (domain) => {
    await setCname(domain);
    startedAt.set(domain, performance.now());
    const created = await api(base, key, "POST", "/tracking-domains", {
      domain,
      https_mode: "managed",
    });
    if (created.status !== 200) throw new Error(`create ${domain}: HTTP ${created.status}`);
    const verified = await api(base, key, "POST", `/tracking-domains/${domain}/verify`);
    if (verified.status !== 200) throw new Error(`verify ${domain}: HTTP ${verified.status}`);
  });
  const validAt = new Map<string, number>();
  const deadline = Date.now() + 300_000;
  while (validAt.size < names.length) {
    if (Date.now() > deadline)
      throw new Error(`${names.length - validAt.size} domains not valid within 300 s`);
    await eachLimited(
      names.filter((d) => !validAt.has(d)),
      10,
      async (domain) => {
        const { body } = await api(base, key, "GET", `/tracking-domains/${domain}`);
        const status = (body as { results?: { status?: { tls_status?: string } } })?.results?.status
          ?.tls_status;
        if (status === "valid") validAt.set(domain, performance.now());
      },
    );
    await sleep(250);
  }
  let orders = 0;
  for (const domain of names) {
    const { body } = await api(base, key, "GET", `/tracking-domains/${domain}/certificate/events`);
    const events = (body as { results: { reason: string }[] }).results;
    orders += events.filter((e) => /order placed/.test(e.reason)).length;
  }
  return {
    seconds: names.map((d) => ((validAt.get(d) as number) - (startedAt.get(d) as number)) / 1000),
    orders,
    wallSeconds: (performance.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  await startStack();
  const persistTo = mkdtempSync(join(tmpdir(), "tracking-edge-onboard-"));
  migrateLocalDatabase(persistTo);
  // An account per wave: an account's DNS checks a minute are limited (LOOKUP_RATE_LIMIT), and a
  // wave of 100 verifications is all one account may make in a minute.
  const keys = await createLocalApiKeys(
    Array.from({ length: waves }, (_, i) => ({ account: `onboard-${i + 1}` })),
    persistTo,
  );
  const worker = await startLocalWorker({
    port: ports.worker,
    persistTo,
    vars: {
      ...localWorkerVars,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      LINK_SIGNING_KEYS: generatedKeyRing(),
      EDGE_PULL_TOKEN: generatedToken(),
      // An account's first orders an hour (30 in production, to share the CA account fairly)
      // would pace a wave of 100 rather than measure it.
      NEW_ORDERS_PER_ACCOUNT_PER_HOUR: "100000",
      MAX_TRACKING_DOMAINS_PER_ACCOUNT: "100000",
    },
  });
  const results: Wave[] = [];
  try {
    for (let wave = 1; wave <= waves; wave++) {
      const result = await runWave(worker.url, keys[wave - 1] as string, wave);
      results.push(result);
      console.log(
        `wave ${wave}: ${domainsPerWave} domains valid in ${result.wallSeconds.toFixed(1)} s; ` +
          `per domain median ${median(result.seconds).toFixed(1)} s, worst ${Math.max(...result.seconds).toFixed(1)} s; ` +
          `${result.orders} orders placed`,
      );
    }
  } finally {
    await worker.stop();
    rmSync(persistTo, { recursive: true, force: true });
  }
  const medians = results.map((r) => median(r.seconds));
  const worst = Math.max(...results.map((r) => Math.max(...r.seconds)));
  const medianOfMedians = median(medians);
  const orders = results.reduce((n, r) => n + r.orders, 0);
  const table = [
    "| waves × domains | median (s) | worst (s) | worst / median | orders placed |",
    "|---|---|---|---|---|",
    `| ${waves} × ${domainsPerWave} | ${medianOfMedians.toFixed(1)} | ${worst.toFixed(1)} | ${(worst / medianOfMedians).toFixed(2)} | ${orders} for ${waves * domainsPerWave} domains |`,
  ].join("\n");
  console.log(`\n${table}`);
  if (values["update-readme"]) updateReadmeBlock("onboard", table);
}

await main();
