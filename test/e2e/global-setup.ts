// Before the end-to-end tests: the local stack must be up (npm test starts it); a worker runs
// under `wrangler dev` on the port Pebble validates against, with a fresh local D1, and six
// API keys: two accounts, a subaccount of the first, an account of its own for hostile input, and
// two accounts that contend for names.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { createLocalApiKeys } from "../../scripts/lib/api-key-sql";
import { stackIsRunning } from "../../scripts/lib/local-stack";
import { startLocalWorker } from "../../scripts/lib/local-worker";
import {
  generatedKeyRing,
  generatedToken,
  localWorkerVars,
  ports,
  stackDir,
  urls,
} from "../../scripts/lib/stack-config";
import { migrateLocalDatabase } from "../../scripts/lib/wrangler";
import { startAriDirectory } from "../support/ari-directory";

export interface E2eKeys {
  alpha: string;
  beta: string;
  alphaSubaccount1: string;
  /** An account of its own for hostile-input.test.ts, whose calls change what they may. */
  hostile: string;
  /** Two accounts that take names from each other in tenant-safety.test.ts. */
  gamma: string;
  delta: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    workerUrl: string;
    apiKeys: E2eKeys;
    /** The worker's local state (D1 and Durable Object storage), for tests that inspect it. */
    persistTo: string;
    /** The worker's CA directory: Pebble's with renewal information (test/support/ari-directory.ts). */
    ariDirectory: string;
    /** The worker's EDGE_PULL_TOKEN, for the TLS edge under test. */
    edgePullToken: string;
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
  const [alpha, beta, alphaSubaccount1, hostile, gamma, delta] = await createLocalApiKeys(
    [
      { account: "alpha" },
      { account: "beta" },
      { account: "alpha", subaccount: 1 },
      { account: "hostile" },
      { account: "gamma" },
      { account: "delta" },
    ],
    persistTo,
  );

  // The worker's CA directory: Pebble's, with renewal information (RFC 9773) added by a stand-in.
  const ari = await startAriDirectory(urls.acmeDirectory, ports.ariDirectory);
  const edgePullToken = generatedToken();
  const worker = await startLocalWorker({
    port: ports.worker,
    persistTo,
    vars: {
      ...localWorkerVars,
      ACME_DIRECTORY_URL: ari.directory,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      LINK_SIGNING_KEYS: generatedKeyRing(),
      EDGE_PULL_TOKEN: edgePullToken,
      // Self-managed domains' proxy (test/support/nginx-proxy.ts) listens here, not on 443.
      HTTPS_PROBE_PORT: String(ports.selfManagedProxy),
      // Links of an account that lost its domain stop within 2 s here (240 s in production), so
      // that the tests can see them stop without waiting minutes.
      LINK_HOLDER_CACHE_SECONDS: "2",
      // The e2e accounts start more first certificates in a run than an account's hour allows
      // in production (30); the limit itself is tested in test/workers/tenant-safety.test.ts.
      NEW_ORDERS_PER_ACCOUNT_PER_HOUR: "1000",
    },
  });
  project.provide("workerUrl", worker.url);
  project.provide("persistTo", persistTo);
  project.provide("ariDirectory", ari.directory);
  project.provide("edgePullToken", edgePullToken);
  project.provide("apiKeys", {
    alpha: alpha as string,
    beta: beta as string,
    alphaSubaccount1: alphaSubaccount1 as string,
    hostile: hostile as string,
    gamma: gamma as string,
    delta: delta as string,
  });
  return async () => {
    await worker.stop();
    await ari.close();
    // The worker's own log, for reading after a failure.
    mkdirSync(`${stackDir}/logs`, { recursive: true });
    writeFileSync(`${stackDir}/logs/e2e-worker.log`, worker.output());
    rmSync(persistTo, { recursive: true, force: true });
  };
}
