// `npm run bench:issuance [-- --count 20] [-- --only ours] [-- --update-readme]`
// Issues N certificates one after another against one Pebble (no validation sleep, no nonce
// rejection, no authorization reuse) with this project's ACME client, then with lego and
// certbot (Debian packages) against the same Pebble in the same run, and prints the median and
// p95 seconds per certificate and the ratios. Every client answers HTTP-01 itself on the same
// port and keeps its account between certificates; lego and certbot are timed per invocation,
// as their users run them.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { newAccount } from "../../src/acme/account";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import { issueCertificate } from "../../test/support/acme-driver";
import { updateReadmeBlock } from "../lib/bench";
import { findBinary, startPebble, startStack } from "../lib/local-stack";
import { stopDaemon } from "../lib/processes";
import { caCertificatePath, dynamicZone, ports } from "../lib/stack-config";

const pebble = {
  name: "pebble-bench",
  acmePort: ports.benchPebbleAcme,
  managementPort: ports.benchPebbleAcme + 15,
  httpPort: 5005,
};
const directory = `https://127.0.0.1:${pebble.acmePort}/dir`;
/** The fast first poll: a setting, here for a local CA that validates at once. */
const pollPolicy = { firstDelayMs: 20, maxDelayMs: 1000 };

interface Result {
  client: string;
  seconds: number[];
  firstWithAccount?: number;
  note?: string;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};
const uniqueName = (client: string, i: number) =>
  `${client}${i}-${Math.random().toString(36).slice(2, 8)}.bench.${dynamicZone}`;

async function benchOurs(count: number): Promise<Result> {
  const tokens = new Map<string, string>();
  const server = createServer((req, res) => {
    const token = req.url?.split("/.well-known/acme-challenge/")[1];
    const body = token ? tokens.get(token) : undefined;
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(pebble.httpPort, "127.0.0.1", resolve));
  const http01 = {
    present: async (token: string, keyAuthorization: string) =>
      void tokens.set(token, keyAuthorization),
    remove: async (token: string) => void tokens.delete(token),
  };
  try {
    const started = performance.now();
    const client = new AcmeClient({ directoryUrl: directory });
    const key = await generateAccountKey();
    const account = await newAccount(client, key, {
      contact: ["mailto:ops@example.test"],
      termsOfServiceAgreed: true,
    });
    const signer = { key, accountUrl: account.url };
    const seconds: number[] = [];
    let firstWithAccount = 0;
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await issueCertificate({
        client,
        signer,
        names: [uniqueName("ours", i)],
        http01,
        poll: pollPolicy,
      });
      seconds.push((performance.now() - t0) / 1000);
      if (i === 0) firstWithAccount = (performance.now() - started) / 1000;
    }
    return {
      client: "tracking-edge",
      seconds,
      firstWithAccount,
      note: `in-process; first poll after ${pollPolicy.firstDelayMs} ms`,
    };
  } finally {
    server.close();
  }
}

function timedRuns(
  client: string,
  count: number,
  command: string,
  argsFor: (name: string, dir: string) => string[],
  env: Record<string, string>,
): Result {
  const dir = mkdtempSync(join(tmpdir(), `bench-${client}-`));
  const seconds: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const run = spawnSync(command, argsFor(uniqueName(client, i), dir), {
        env: { ...process.env, ...env },
        encoding: "utf8",
      });
      if (run.status !== 0) throw new Error(`${client} failed:\n${run.stdout}\n${run.stderr}`);
      seconds.push((performance.now() - t0) / 1000);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    client,
    seconds,
    firstWithAccount: seconds[0] ?? Number.NaN,
    note: "one process per certificate",
  };
}

const benchLego = (count: number) =>
  timedRuns(
    "lego",
    count,
    "lego",
    (name, dir) => [
      "--server", directory, "--email", "ops@example.test", "--accept-tos", "--path", dir,
      "--domains", name, "--http", "--http.port", `127.0.0.1:${pebble.httpPort}`, "run",
    ], // biome-ignore format: flag and value pairs
    { LEGO_CA_CERTIFICATES: caCertificatePath },
  );

const benchCertbot = (count: number) =>
  timedRuns(
    "certbot",
    count,
    "certbot",
    (name, dir) => [
      "certonly", "--standalone", "--non-interactive", "--agree-tos", "-m", "ops@example.test",
      "--server", directory, "-d", name,
      "--http-01-address", "127.0.0.1", "--http-01-port", String(pebble.httpPort),
      "--config-dir", `${dir}/config`, "--work-dir", `${dir}/work`, "--logs-dir", `${dir}/logs`,
    ], // biome-ignore format: flag and value pairs
    { REQUESTS_CA_BUNDLE: caCertificatePath },
  );

function report(results: Result[], count: number): string {
  const ours = results.find((r) => r.client === "tracking-edge");
  const oursMedian = ours ? quantile(ours.seconds, 0.5) : Number.NaN;
  const rows = results.map((r) => {
    const median = quantile(r.seconds, 0.5);
    const ratio = r === ours ? "1×" : `${(median / oursMedian).toFixed(1)}× slower`;
    return `| ${r.client} | ${median.toFixed(3)} | ${quantile(r.seconds, 0.95).toFixed(3)} | ${(r.firstWithAccount ?? Number.NaN).toFixed(2)} | ${ratio} | ${r.note ?? ""} |`;
  });
  return [
    `Issuance against Pebble (PEBBLE_VA_NOSLEEP=1, NONCEREJECT=0, AUTHZREUSE=0), ${count} certificates each, sequential:`,
    "",
    "| client | median s/cert | p95 s/cert | first cert incl. account, s | vs tracking-edge | how |",
    "|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "20" },
      only: { type: "string" },
      "update-readme": { type: "boolean", default: false },
    },
  });
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1)
    throw new Error("--count must be a positive whole number");
  const clients = values.only ? values.only.split(",") : ["ours", "lego", "certbot"];
  for (const tool of clients.filter((c) => c !== "ours")) {
    if (!findBinary(tool))
      throw new Error(`${tool} is not installed: apt-get install -y ${tool} (or --only ours)`);
  }
  await startStack();
  await startPebble({
    ...pebble,
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
  });
  const results: Result[] = [];
  try {
    for (const name of clients) {
      console.error(`… ${name}: ${count} certificates`);
      if (name === "ours") results.push(await benchOurs(count));
      else if (name === "lego") results.push(benchLego(count));
      else if (name === "certbot") results.push(benchCertbot(count));
      else throw new Error(`unknown client ${name}`);
    }
  } finally {
    await stopDaemon(pebble.name);
  }
  const table = report(results, count);
  console.log(table);
  if (values["update-readme"]) updateReadmeBlock("issuance", table);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
