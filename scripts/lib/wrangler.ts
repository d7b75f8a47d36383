// Runs the project's pinned wrangler with the environment that keeps it offline and quiet.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { projectRoot } from "./stack-config";

export const wranglerBin = `${projectRoot}/node_modules/.bin/wrangler`;

export const wranglerEnv = {
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  // Never open a browser or prompt for login in scripts.
  CI: process.env.CI ?? "",
};

/** Runs wrangler to completion and returns its standard output; throws with its stderr. */
export function wrangler(args: string[], extraEnv: Record<string, string> = {}): string {
  try {
    return execFileSync(wranglerBin, args, {
      cwd: projectRoot,
      env: { ...process.env, ...wranglerEnv, ...extraEnv },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `wrangler ${args.slice(0, 3).join(" ")} failed:\n${e.stderr || e.stdout || e.message}`,
    );
  }
}

export function spawnWrangler(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  return spawn(wranglerBin, args, {
    cwd: projectRoot,
    env: { ...process.env, ...wranglerEnv, ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * Applies the D1 migrations to the local databases (under `persistTo` when given): the global
 * one (migrations/) and the EU engagement one (migrations-eu/).
 */
export function migrateLocalDatabase(persistTo?: string): void {
  for (const binding of ["DB", "DB_EU"]) {
    wrangler([
      "d1",
      "migrations",
      "apply",
      binding,
      "--local",
      ...(persistTo ? ["--persist-to", persistTo] : []),
    ]);
  }
}

/** Which D1 an operator script works on: the deployed one, or a local one (under a directory). */
export interface D1Target {
  remote?: boolean;
  persistTo?: string | undefined;
}

/** wrangler's arguments for `target`; --persist-to with --remote is refused. */
export function d1TargetArgs(target: D1Target): string[] {
  if (target.remote && target.persistTo)
    throw new Error("--persist-to is for the local database only");
  if (target.remote) return ["--remote"];
  return ["--local", ...(target.persistTo ? ["--persist-to", target.persistTo] : [])];
}

/** Runs `sql` (one or more statements) on `target`; each statement's rows, in order. */
export function executeD1(sql: string, target: D1Target): Record<string, unknown>[][] {
  const output = wrangler([
    "d1",
    "execute",
    "DB",
    ...d1TargetArgs(target),
    "--yes",
    "--json",
    "--command",
    sql,
  ]);
  return (JSON.parse(output) as { results: Record<string, unknown>[] }[]).map((r) => r.results);
}
