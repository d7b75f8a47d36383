// `npm test`: brings the local stack up (unless it already runs), runs every test project, and
// brings the stack down again if it started it. Arguments go to vitest.
import { spawnSync } from "node:child_process";
import {
  installPackages,
  missingPackages,
  stackIsRunning,
  startStack,
  stopStack,
} from "./lib/local-stack";
import { caCertificatePath, projectRoot } from "./lib/stack-config";
import { wranglerEnv } from "./lib/wrangler";

async function main(): Promise<number> {
  if (missingPackages({ forTests: true }).length > 0) installPackages({ forTests: true });
  const startedHere = !stackIsRunning({ forTests: true });
  await startStack({ forTests: true });
  try {
    const result = spawnSync(
      `${projectRoot}/node_modules/.bin/vitest`,
      ["run", ...process.argv.slice(2)],
      {
        cwd: projectRoot,
        stdio: "inherit",
        // workerd (in the pool and under wrangler dev) trusts Pebble's HTTPS through this CA.
        env: { ...process.env, ...wranglerEnv, NODE_EXTRA_CA_CERTS: caCertificatePath },
      },
    );
    return result.status ?? 1;
  } finally {
    if (startedHere) await stopStack();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
