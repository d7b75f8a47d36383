// `npm run bench:redirect [-- --duration 5] [-- --connections 32] [-- --rounds 5] [-- --without-consumer]
//  [-- --update-readme]`
// The click path's throughput: the built worker runs in Miniflare on loopback with its Queue and
// D1 (the consumer writes every click, as in production), and wrk requests `/f/{token}` on a
// tracking host, cycling through a thousand distinct links. In the same run and under the same
// load, a bare worker that only answers 302 is the baseline, and a worker that only verifies the
// link and answers (scripts/bench/verify-only-worker.ts) shows what verifying costs on its own.
// Rounds alternate between them so drift on the machine hits all alike, and each round starts
// once the previous round's clicks are all in D1: the figure is also a check that no click is
// lost. In Miniflare the consumer runs
// in the same process as the clicks (in production it does not); --without-consumer leaves it out
// to show the click path's own cost. Ratios are printed per round, since the machine's drift within
// one run is as wide as the differences measured; and before the rounds, the product's fetch handler
// is timed on clicks in a loop inside workerd, which gives a steady CPU figure for the click's code.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { Log, LogLevel, Miniflare } from "miniflare";
import { mintToken, parseSigningRing } from "../../src/tracking/link-token";
import { median, updateReadmeBlock } from "../lib/bench";
import { sleep } from "../lib/processes";
import { generatedKeyRing, localWorkerVars, projectRoot } from "../lib/stack-config";
import { wrangler } from "../lib/wrangler";

const trackingHost = "track.bench.test";
const distinctLinks = 1000;
const target = (i: number) =>
  `https://shop.example.com/spring-sale/item-${i}?utm_source=email&utm_campaign=bench`;
/** The baseline answers the very 302 a click gets (its headers too), and does nothing else. */
const bareWorker = `export default {
  fetch() {
    return new Response(null, {
      status: 302,
      headers: {
        location: ${JSON.stringify(target(0))},
        "referrer-policy": "no-referrer",
        "cache-control": "no-store, private",
      },
    });
  },
};`;

interface WrkResult {
  requests: number;
  requestsPerSecond: number;
  p99Ms: number;
  notRedirected: number;
  /** The worker's workerd process's CPU time (user + system) per request, when it could be read. */
  cpuUsPerRequest: number | undefined;
}

/**
 * With two cores or more, wrk runs on core 0 and both workers' workerd processes on core 1, so the
 * client never competes with the server for a core. On this project's 2-core VMs the same build
 * unpinned ranged from 0.71× to 0.85× across runs within an hour; pinned, from 0.77× to 0.84×.
 */
const pinned = availableParallelism() >= 2 && spawnSync("taskset", ["-V"]).status === 0;

function pinToServerCore(pid: number | undefined): void {
  if (pinned && pid !== undefined) spawnSync("taskset", ["-a", "-p", "-c", "1", String(pid)]);
}

const cpuCell = (us: number | undefined) => (us === undefined ? "n/a" : `${us.toFixed(0)} µs`);

/** This process's children (Miniflare starts one workerd each), from /proc; empty elsewhere. */
function childProcesses(): Set<number> {
  const children = new Set<number>();
  if (!existsSync("/proc/self/stat")) return children;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]?.split(" ");
      if (Number(fields?.[1]) === process.pid) children.add(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

const ticksPerSecond = (() => {
  const result = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  return Number(result.stdout) || 100;
})();

/** CPU time a process has used so far, in µs (all its threads), or undefined when unreadable. */
function cpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** Runs wrk over the paths in `script` and reads its summary (and the server's CPU time). */
function runWrk(
  origin: string,
  script: string,
  seconds: number,
  connections: number,
  serverPid?: number,
): WrkResult {
  const cpuBefore = cpuUs(serverPid);
  const args = ["--latency", "-t1", `-c${connections}`, `-d${seconds}s`, "-s", script, origin];
  const result = pinned
    ? spawnSync("taskset", ["-c", "0", "wrk", ...args], { encoding: "utf8" })
    : spawnSync("wrk", args, { encoding: "utf8" });
  if (result.error) {
    throw new Error(`wrk could not run (${result.error.message}); install it: apt-get install wrk`);
  }
  if (result.status !== 0) throw new Error(`wrk failed:\n${result.stderr}`);
  const cpuAfter = cpuUs(serverPid);
  const out = result.stdout;
  const requests = /(\d+) requests in/.exec(out)?.[1];
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  if (!requests || !rps || !p99) throw new Error(`could not read wrk's output:\n${out}`);
  const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as "us" | "ms" | "s"];
  return {
    requests: Number(requests),
    requestsPerSecond: Number(rps),
    p99Ms: Number(p99[1]) * scale,
    notRedirected: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    cpuUsPerRequest:
      cpuBefore === undefined || cpuAfter === undefined
        ? undefined
        : (cpuAfter - cpuBefore) / Number(requests),
  };
}

/** A wrk script that cycles through `paths` with the tracking host's name in Host. */
function wrkScript(dir: string, paths: string[]): string {
  const path = join(dir, "links.lua");
  writeFileSync(
    path,
    [
      `wrk.headers["Host"] = "${trackingHost}"`,
      `local paths = { ${paths.map((p) => `"${p}"`).join(",\n")} }`,
      "local i = 0",
      "request = function()",
      "  i = i % #paths + 1",
      '  return wrk.format("GET", paths[i])',
      "end",
    ].join("\n"),
  );
  return path;
}

/** Bundles one of the bench's own workers as wrangler bundles the product (its own config, minified). */
function buildBenchWorker(work: string, name: "verify-only-worker" | "click-cost-worker"): string {
  const config = join(work, `${name}.toml`);
  writeFileSync(
    config,
    [
      `name = "bench-${name}"`,
      `main = ${JSON.stringify(join(projectRoot, `scripts/bench/${name}.ts`))}`,
      'compatibility_date = "2026-04-26"',
      "minify = true",
    ].join("\n"),
  );
  const outdir = join(work, name);
  wrangler(["deploy", "--dry-run", "--config", config, "--outdir", outdir]);
  return join(outdir, `${name}.js`);
}

/** The issue's 0.9× the bare worker's throughput, as CPU: a click may cost 1/0.9 − 1 more. */
const clickBudget = 1 / 0.9 - 1;

/** Clicks per timed loop of the in-isolate figure, and how many loops of each it times. */
const loopClicks = 20_000;
const loops = 7;

/**
 * The in-isolate figure (scripts/bench/click-cost-worker.ts): µs per click of the product's fetch
 * handler (its sends to the Queue included) and of the bare worker's 302, each the median of
 * `loops` timed loops less a loop of 0.
 */
async function inIsolateCost(
  work: string,
  ring: string,
  paths: string[],
): Promise<{ click: number; bare: number }> {
  const mf = new Miniflare({
    ...builtOnLoopback(buildBenchWorker(work, "click-cost-worker")),
    queueProducers: { ENGAGEMENT_EVENTS: "bench-click-cost" },
    // D1 answers who holds the tracking host, once; the click path touches no other binding.
    d1Databases: { DB: "bench-click-cost" },
    d1Persist: join(work, "click-cost-d1"),
    bindings: {
      ...localWorkerVars,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      LINK_SIGNING_KEYS: ring,
    },
  });
  try {
    await registerTrackingHost(mf);
    const origin = (await mf.ready).href;
    await mf.dispatchFetch(`${origin}links`, {
      method: "POST",
      body: JSON.stringify({ host: trackingHost, paths }),
    });
    const timed = async (worker: string, count: number) => {
      const started = performance.now();
      const response = await mf.dispatchFetch(`${origin}run?worker=${worker}&count=${count}`);
      const redirects = Number(await response.text());
      if (redirects !== count)
        throw new Error(`${worker}: ${redirects} of ${count} loops redirected`);
      return performance.now() - started;
    };
    const perClick = async (worker: string) => {
      await timed(worker, loopClicks); // warm-up: the JIT has seen the loop
      const runs: number[] = [];
      for (let i = 0; i < loops; i++) {
        const empty = await timed(worker, 0);
        runs.push(((await timed(worker, loopClicks)) - empty) * (1000 / loopClicks));
      }
      return median(runs);
    };
    return { click: await perClick("click"), bare: await perClick("bare") };
  } finally {
    await mf.dispose();
  }
}

/** What every worker here shares: the same runtime date, on a loopback port Miniflare picks. */
const loopback = { compatibilityDate: "2026-04-26", host: "127.0.0.1", port: 0, cf: false };

/** A script wrangler bundled, as one ES module, on loopback. */
const builtOnLoopback = (script: string) => ({
  modules: [{ type: "ESModule" as const, path: script, contents: readFileSync(script, "utf8") }],
  modulesRoot: dirname(script),
  ...loopback,
});

/** The verify-only worker with the ring it verifies under. */
function verifyOnlyWorker(script: string, ring: string): Miniflare {
  return new Miniflare({
    ...builtOnLoopback(script),
    bindings: { LINK_SIGNING_KEYS: ring },
  });
}

/** The built worker with its bindings, on a loopback port Miniflare picks. */
async function trackingWorker(
  script: string,
  persist: string,
  ring: string,
  withConsumer: boolean,
): Promise<Miniflare> {
  const mf = new Miniflare({
    ...builtOnLoopback(script),
    // The worker's own errors (a failed Queue send, a failed D1 write) are shown.
    log: new Log(LogLevel.WARN),
    d1Databases: { DB: "bench" },
    d1Persist: join(persist, "d1"),
    durableObjects: {
      DOMAIN_CERTIFICATE: { className: "DomainCertificate", useSQLite: true },
      ACME_ACCOUNT: { className: "AcmeAccount", useSQLite: true },
    },
    durableObjectsPersist: join(persist, "do"),
    queueProducers: { ENGAGEMENT_EVENTS: "tracking-edge-engagement" },
    queueConsumers: !withConsumer
      ? {}
      : {
          // Batches close after 1 s rather than 5, so rounds drain sooner; 100 messages (rather than
          // wrangler.toml's 20) because Miniflare's broker stalls more often with small batches.
          "tracking-edge-engagement": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 10 },
        },
    bindings: {
      ...localWorkerVars,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      LINK_SIGNING_KEYS: ring,
      SWEEP_PAGE_SIZE: "500",
      // wrk is one client network; in production clicks come from many. Every click is stored
      // here, as the drain check counts them.
      ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE: "100000000",
    },
  });
  await registerTrackingHost(mf);
  return mf;
}

/**
 * The schema, and the tracking host as account 1's domain: a link is honoured only while the
 * account that minted it holds the domain.
 */
async function registerTrackingHost(mf: Miniflare): Promise<void> {
  const db = await mf.getD1Database("DB");
  for (const migration of await readD1Migrations(`${projectRoot}/migrations`)) {
    for (const query of migration.queries) await db.prepare(query).run();
  }
  await db.prepare("INSERT INTO accounts (id, name) VALUES (1, 'bench')").run();
  await db
    .prepare(
      `INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified)
       VALUES (?, 1, 'us', 'none', 1)`,
    )
    .bind(trackingHost)
    .run();
}

/** A GET with the tracking host's name in Host (fetch would put the loopback address there). */
function getWithHost(url: string): Promise<{ status?: number; location?: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { host: trackingHost } }, (response) => {
      response.resume();
      resolve({ status: response.statusCode, location: response.headers.location });
    }).on("error", reject);
  });
}

type Drain = { ms: number } | { stalledAt: number; backlog: number };

/**
 * Waits until the consumer has written `expected` clicks. Miniflare's local Queue broker can stop
 * dispatching batches under sustained load (workers-sdk#4639): if nothing is written for 20 s,
 * this reports how many clicks were written and how many messages its backlog still holds.
 */
async function drained(mf: Miniflare, expected: number): Promise<Drain> {
  const db = await mf.getD1Database("DB");
  const started = performance.now();
  let written = -1;
  let progressAt = started;
  for (;;) {
    const row = await db
      .prepare("SELECT COUNT(*) AS n FROM engagement_events")
      .first<{ n: number }>();
    const now = performance.now();
    if ((row?.n ?? 0) >= expected) return { ms: now - started };
    if (row?.n !== written) {
      written = row?.n ?? 0;
      progressAt = now;
    } else if (now - progressAt > 20_000) {
      // A message the consumer drops as malformed; the answer carries the broker's backlog.
      const producer = await mf.getQueueProducer("ENGAGEMENT_EVENTS");
      const answer = (await producer.send("{}", { contentType: "text" })) as unknown as {
        metadata?: { metrics?: { backlogCount?: number } };
      };
      return { stalledAt: written, backlog: answer.metadata?.metrics?.backlogCount ?? Number.NaN };
    }
    await sleep(250);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: "string", default: "5" },
      connections: { type: "string", default: "32" },
      rounds: { type: "string", default: "5" },
      "without-consumer": { type: "boolean", default: false },
      "update-readme": { type: "boolean", default: false },
    },
  });
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const rounds = Number(values.rounds);
  const withConsumer = !values["without-consumer"];

  const work = mkdtempSync(join(tmpdir(), "bench-redirect-"));
  wrangler(["deploy", "--dry-run", "--outdir", join(work, "build")]);
  const ring = generatedKeyRing();
  const signing = parseSigningRing(ring);
  const paths: string[] = [];
  for (let i = 0; i < distinctLinks; i++) {
    const token = mintToken(signing, "click", trackingHost, {
      accountId: 1,
      subaccountId: 0,
      messageId: `bench-message-${i}`,
      recipientId: `recipient-${i}@example.com`,
      linkName: "spring-sale",
      url: target(i),
    });
    paths.push(`/f/${token}`);
  }
  const script = wrkScript(work, paths);
  console.error(`… in-isolate cost: ${loops} loops of ${loopClicks.toLocaleString("en")} clicks`);
  const isolate = await inIsolateCost(work, ring, paths);
  const started: Miniflare[] = [];
  /** Starts a worker, finds its workerd among this process's children and pins it. */
  const start = async (make: () => Miniflare | Promise<Miniflare>) => {
    const before = childProcesses();
    const mf = await make();
    started.push(mf);
    const origin = (await mf.ready).origin;
    const pid = [...childProcesses()].find((child) => !before.has(child));
    pinToServerCore(pid);
    return { mf, origin, pid };
  };
  try {
    const tracking = await start(() =>
      trackingWorker(join(work, "build", "edge.js"), work, ring, withConsumer),
    );
    const verifyOnly = await start(() =>
      verifyOnlyWorker(buildBenchWorker(work, "verify-only-worker"), ring),
    );
    const bare = await start(
      () => new Miniflare({ modules: true, script: bareWorker, ...loopback }),
    );
    const trackingOrigin = tracking.origin;
    const verifyOnlyOrigin = verifyOnly.origin;
    const bareOrigin = bare.origin;
    // What a mail client sees, checked before anything is timed.
    const first = await getWithHost(`${trackingOrigin}${paths[0]}`);
    if (first.status !== 302 || first.location !== target(0)) {
      throw new Error(`a click answered ${first.status} ${first.location ?? ""}, not a 302`);
    }
    let clicks = 1;
    // Warm-up for each isolate.
    clicks += runWrk(trackingOrigin, script, 2, connections).requests;
    runWrk(verifyOnlyOrigin, script, 2, connections);
    runWrk(bareOrigin, script, 2, connections);
    let stall: Extract<Drain, { stalledAt: number }> | undefined;
    const wait = async () => {
      const drain = await drained(tracking.mf, clicks);
      if ("ms" in drain) return drain.ms;
      stall = drain;
      return undefined;
    };
    if (withConsumer && (await wait()) === undefined) {
      throw new Error(`Miniflare's local Queue stopped dispatching during the warm-up; run again`);
    }

    const results = {
      tracking: [] as WrkResult[],
      verifyOnly: [] as WrkResult[],
      bare: [] as WrkResult[],
    };
    const drains: number[] = [];
    for (let round = 1; round <= rounds && !stall; round++) {
      console.error(`… round ${round} of ${rounds}: ${seconds} s each, ${connections} connections`);
      const ours = runWrk(trackingOrigin, script, seconds, connections, tracking.pid);
      results.tracking.push(ours);
      results.verifyOnly.push(
        runWrk(verifyOnlyOrigin, script, seconds, connections, verifyOnly.pid),
      );
      results.bare.push(runWrk(bareOrigin, script, seconds, connections, bare.pid));
      clicks += ours.requests;
      const ms = withConsumer ? await wait() : undefined;
      if (ms !== undefined) drains.push(ms);
    }
    const failed = [...results.tracking, ...results.verifyOnly].reduce(
      (sum, r) => sum + r.notRedirected,
      0,
    );
    if (failed > 0) throw new Error(`${failed} clicks were not answered with a redirect`);

    const summary = (rs: WrkResult[]) => ({
      rps: median(rs.map((r) => r.requestsPerSecond)),
      p99: median(rs.map((r) => r.p99Ms)),
      cpu: rs.every((r) => r.cpuUsPerRequest !== undefined)
        ? median(rs.map((r) => r.cpuUsPerRequest as number))
        : undefined,
    });
    /**
     * Each round's throughput over the baseline's round run next to it, as "median (low–high)":
     * the spread shows how much of a difference the machine's own drift can make in one run.
     */
    const paired = (rs: WrkResult[], baseline: WrkResult[]) => {
      const ratios = rs.map(
        (r, i) => r.requestsPerSecond / (baseline[i] as WrkResult).requestsPerSecond,
      );
      return `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
    };
    const ours = summary(results.tracking);
    const floor = summary(results.verifyOnly);
    const base = summary(results.bare);
    const extra = (s: { cpu: number | undefined }) =>
      s.cpu === undefined || base.cpu === undefined ? undefined : s.cpu - base.cpu;
    const oursExtra = extra(ours);
    const floorExtra = extra(floor);
    const table = [
      `Click redirects on loopback: wrk with ${connections} connections over ${distinctLinks} distinct links, median of ${results.tracking.length} alternating rounds of ${seconds} s; built worker in Miniflare${pinned ? "; wrk on one core, the workers on the other" : ""}.`,
      "",
      "| worker | requests/s | p99 latency | vs bare, by round | vs verify-only, by round | workerd CPU per request |",
      "|---|---|---|---|---|---|",
      `| tracking-edge \`/f/{token}\`: verify the link, queue the click | ${ours.rps.toFixed(0)} | ${ours.p99.toFixed(1)} ms | ${paired(results.tracking, results.bare)} | ${paired(results.tracking, results.verifyOnly)} | ${cpuCell(ours.cpu)} |`,
      `| a worker that only verifies the link and answers the same 302, recording nothing | ${floor.rps.toFixed(0)} | ${floor.p99.toFixed(1)} ms | ${paired(results.verifyOnly, results.bare)} | 1.00× | ${cpuCell(floor.cpu)} |`,
      `| bare worker that answers the same 302 without looking at the link | ${base.rps.toFixed(0)} | ${base.p99.toFixed(1)} ms | 1.00× | | ${cpuCell(base.cpu)} |`,
      "",
      "Ratios are each round's requests per second over the other worker's in the same round: the median, then the lowest and highest round.",
      oursExtra !== undefined && floorExtra !== undefined
        ? `Under wrk, a click cost ${oursExtra.toFixed(0)} µs of CPU more than the bare 302, and a verified link without recording ${floorExtra.toFixed(0)} µs (user + system time of each worker's workerd process over its rounds${withConsumer ? ", which for tracking-edge includes the Queue consumer's D1 writes during the round" : ""}).`
        : "",
      `Inside workerd, away from HTTP (the median of ${loops} loops of ${loopClicks.toLocaleString("en")}, scripts/bench/click-cost-worker.ts): the worker's fetch handler on a click — routing, verifying the link, making the 302, recording the click and sending the outbox's batches to the local Queue — takes ${isolate.click.toFixed(1)} µs a click, making the bare 302 ${isolate.bare.toFixed(1)} µs: the click's own code adds ${(isolate.click - isolate.bare).toFixed(1)} µs${base.cpu === undefined ? "" : `, ${(((isolate.click - isolate.bare) / base.cpu) * 100).toFixed(0)}% of the ${base.cpu.toFixed(0)} µs the runtime spends on each bare request under wrk (${(isolate.click - isolate.bare) / base.cpu <= clickBudget ? "within" : "over"} the ${(clickBudget * 100).toFixed(0)}% that 0.9× its throughput allows)`}.`,
      !withConsumer
        ? "The Queue consumer was left out (--without-consumer): this is the click path's own cost."
        : stall
          ? `Miniflare's local Queue stopped dispatching after round ${results.tracking.length} (workers-sdk#4639): ${stall.stalledAt.toLocaleString("en")} of ${clicks.toLocaleString("en")} clicks were in D1, ${stall.backlog} messages still in its backlog; the run stopped there.`
          : `All ${clicks.toLocaleString("en")} clicks reached D1 through the Queue consumer, which ran in the same process; the backlog after a round drained in ${(median(drains) / 1000).toFixed(1)} s (median).`,
    ].join("\n");
    console.log(table);
    if (values["update-readme"] && stall) {
      console.error("The README was not updated: the run stopped early.");
      process.exitCode = 1;
    } else if (values["update-readme"]) {
      updateReadmeBlock("redirect", table, pinned ? "" : "; wrk shares them");
    }
  } finally {
    for (const mf of started) await mf.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
