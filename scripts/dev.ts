// `npm run dev`: the local stack (installed and started if needed), local D1 migrated, a
// development API key printed, and the Worker running on 127.0.0.1 until Ctrl-C.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createLocalApiKeys } from "./lib/api-key-sql";
import { installPackages, missingPackages, startStack } from "./lib/local-stack";
import { startLocalWorker } from "./lib/local-worker";
import {
  exampleRecords,
  generatedKeyRing,
  generatedToken,
  ports,
  projectRoot,
} from "./lib/stack-config";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: String(ports.worker) },
      "persist-to": { type: "string" },
    },
  });
  if (missingPackages().length > 0) installPackages();
  await startStack();
  writeDevVars(`${projectRoot}/.dev.vars`);
  const persistTo = values["persist-to"];
  const worker = await startLocalWorker({
    port: Number(values.port),
    inheritOutput: true,
    ...(persistTo ? { persistTo } : {}),
  });
  const [key] = await createLocalApiKeys(
    [{ account: "dev", label: `npm run dev ${new Date().toISOString()}` }],
    persistTo,
  );

  const api = `${worker.url}/api/v1`;
  console.log(`
tracking-edge is running at ${worker.url} (API host: 127.0.0.1 or localhost)

  Development API key (account "dev"): ${key}

Try it:
  export KEY=${key}
  curl -s -H "Authorization: $KEY" -H 'Content-Type: application/json' \\
    -d '{"domain":"${exampleRecords.v2.name}"}' ${api}/tracking-domains
  curl -s -X POST -H "Authorization: $KEY" ${api}/tracking-domains/${exampleRecords.v2.name}/verify
  curl -s -H "Authorization: $KEY" ${api}/tracking-domains/${exampleRecords.v2.name}/certificate

Verifying starts managed HTTPS: the local Pebble issues a certificate within seconds
(status pending, then valid).

The local DNS zone also has ${exampleRecords.standard.name} (CNAME to the standard endpoint) and
${exampleRecords.noCname.name} (no CNAME). API reference: ${api}/openapi.json
Management UI: ${worker.url}/ (sign in with the key above)
Ctrl-C stops the worker; \`npm run stack:stop\` stops the local stack.
`);
  const stop = () => void worker.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const code = await worker.exited;
  process.exitCode = code ?? 0;
}

/**
 * .dev.vars from .dev.vars.example, with a fresh key ring; an existing file keeps its values and
 * gains the variables added to the example since it was written.
 */
function writeDevVars(path: string): void {
  const example = readFileSync(`${projectRoot}/.dev.vars.example`, "utf8")
    .replace(/^KEY_ENCRYPTION_KEYS=.*$/m, `KEY_ENCRYPTION_KEYS=${generatedKeyRing()}`)
    .replace(/^LINK_SIGNING_KEYS=.*$/m, `LINK_SIGNING_KEYS=${generatedKeyRing()}`)
    .replace(/^EDGE_PULL_TOKEN=.*$/m, `EDGE_PULL_TOKEN=${generatedToken()}`);
  if (!existsSync(path)) {
    writeFileSync(path, example, { mode: 0o600 });
    console.log("Wrote .dev.vars from .dev.vars.example, with a fresh key ring.");
    return;
  }
  const existing = readFileSync(path, "utf8");
  const names = new Set([...existing.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
  const missing = example
    .split("\n")
    .filter((line) => /^[A-Z0-9_]+=/.test(line) && !names.has(line.split("=")[0]));
  if (missing.length > 0) {
    writeFileSync(path, `${existing.trimEnd()}\n${missing.join("\n")}\n`, { mode: 0o600 });
    console.log(`Added to .dev.vars: ${missing.map((l) => l.split("=")[0]).join(", ")}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
