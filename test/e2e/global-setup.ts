// Before the end-to-end tests: the local stack must be up (npm test starts it); a worker runs
// under `wrangler dev` on the port Pebble validates against, with a fresh local D1, and three
// API keys: two accounts, and a subaccount of the first.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { apiKeyStatements } from "../../scripts/lib/api-key-sql";
import { stackIsRunning } from "../../scripts/lib/local-stack";
import { startLocalWorker } from "../../scripts/lib/local-worker";
import { localWorkerVars, ports } from "../../scripts/lib/stack-config";
import { migrateLocalDatabase, wrangler } from "../../scripts/lib/wrangler";

export interface E2eKeys {
  alpha: string;
  beta: string;
  alphaSubaccount1: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    workerUrl: string;
    apiKeys: E2eKeys;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!stackIsRunning()) {
    throw new Error(
      "The local stack is not running: run the tests with `npm test`, or `npm run stack:start` first.",
    );
  }
  const persistTo = mkdtempSync(join(tmpdir(), "tracking-edge-e2e-"));
  migrateLocalDatabase(persistTo);
  const alpha = await apiKeyStatements({ account: "alpha" });
  const beta = await apiKeyStatements({ account: "beta" });
  const alphaSubaccount1 = await apiKeyStatements({ account: "alpha", subaccount: 1 });
  const sql = [alpha, beta, alphaSubaccount1].map((k) => k.sql).join("\n");
  wrangler([
    "d1",
    "execute",
    "DB",
    "--local",
    "--persist-to",
    persistTo,
    "--yes",
    "--command",
    sql,
  ]);

  const worker = await startLocalWorker({
    port: ports.worker,
    persistTo,
    vars: { ...localWorkerVars },
  });
  project.provide("workerUrl", worker.url);
  project.provide("apiKeys", {
    alpha: alpha.key,
    beta: beta.key,
    alphaSubaccount1: alphaSubaccount1.key,
  });
  return async () => {
    await worker.stop();
    rmSync(persistTo, { recursive: true, force: true });
  };
}
