// Runs the Worker locally with `wrangler dev` (workerd, local D1) on a loopback port, as
// `npm run dev` and the end-to-end tests do, and stops it with everything it started.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { sleep } from "./processes";
import { caCertificatePath, projectRoot } from "./stack-config";
import { migrateLocalDatabase, wranglerBin, wranglerEnv } from "./wrangler";

export interface LocalWorkerOptions {
  port: number;
  /** Local state (D1) directory; wrangler's default .wrangler/state when absent. */
  persistTo?: string;
  /** Variables and secrets for the worker: a file written from these, or .dev.vars when absent. */
  vars?: Record<string, string>;
  /** Pass wrangler's output through to this process (npm run dev) instead of keeping it. */
  inheritOutput?: boolean;
}

export interface LocalWorker {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
  exited: Promise<number | null>;
}

/** Whether something already listens on 127.0.0.1:`port` (another dev server, a stale worker). */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startLocalWorker(options: LocalWorkerOptions): Promise<LocalWorker> {
  // Otherwise the readiness check below would happily talk to whatever holds the port.
  if (await portInUse(options.port)) {
    throw new Error(
      `127.0.0.1:${options.port} is already in use (another \`npm run dev\` or test run?); stop it first.`,
    );
  }
  migrateLocalDatabase(options.persistTo);
  const args = [
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.port),
    "--test-scheduled",
  ];
  args.push("--show-interactive-dev-session=false");
  if (options.persistTo) args.push("--persist-to", options.persistTo);
  if (options.vars) {
    const stateDir = options.persistTo ?? `${projectRoot}/.wrangler`;
    mkdirSync(stateDir, { recursive: true });
    const envFile = `${stateDir}/worker.env`;
    writeFileSync(
      envFile,
      Object.entries(options.vars)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n"),
      { mode: 0o600 },
    );
    args.push("--env-file", envFile);
  }
  const child = spawn(wranglerBin, args, {
    cwd: projectRoot,
    // workerd trusts Pebble's HTTPS only through the local CA given here.
    env: { ...process.env, ...wranglerEnv, NODE_EXTRA_CA_CERTS: caCertificatePath },
    stdio: [
      "ignore",
      options.inheritOutput ? "inherit" : "pipe",
      options.inheritOutput ? "inherit" : "pipe",
    ],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let running = true;
  void exited.then(() => {
    running = false;
  });

  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (!running || child.pid === undefined) return;
    process.kill(-child.pid, "SIGTERM");
    await Promise.race([exited, sleep(5000)]);
    if (running) process.kill(-child.pid, "SIGKILL");
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!running) throw new Error(`wrangler dev exited before it was ready:\n${output}`);
    try {
      const response = await fetch(`${url}/api/v1/openapi.json`, {
        signal: AbortSignal.timeout(1000),
      });
      if (response.ok) return { url, output: () => output, stop, exited };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`wrangler dev did not answer on ${url} within 60 s:\n${output}`);
}
