// Background daemons for the local stack: started detached with their output in a log file and
// their PID in a file, so a later command (or a later shell) can find and stop them.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { stackDir } from "./stack-config";

const runDir = `${stackDir}/run`;
const logDir = `${stackDir}/logs`;

export const logPath = (name: string): string => `${logDir}/${name}.log`;
const pidPath = (name: string): string => `${runDir}/${name}.pid`;

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else: still alive.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The PID recorded for a daemon, if that process is still running. */
export function runningPid(name: string): number | undefined {
  if (!existsSync(pidPath(name))) return undefined;
  const pid = Number(readFileSync(pidPath(name), "utf8").trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export function startDaemon(spec: DaemonSpec): number {
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const log = openSync(logPath(spec.name), "a");
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
  child.unref();
  writeFileSync(pidPath(spec.name), `${child.pid}\n`);
  return child.pid;
}

/** Stops a daemon: SIGTERM, then SIGKILL if it has not exited within the grace period. */
export async function stopDaemon(name: string, graceMs = 3000): Promise<boolean> {
  const pid = runningPid(name);
  rmSync(pidPath(name), { force: true });
  if (pid === undefined) return false;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(25);
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
  return true;
}

export function lastLogLines(name: string, count = 15): string {
  if (!existsSync(logPath(name))) return "(no log)";
  return readFileSync(logPath(name), "utf8").trimEnd().split("\n").slice(-count).join("\n");
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it resolves true, or throws with `describe()` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`${what} did not become ready within ${timeoutMs} ms${reason}\n${describe()}`);
}
