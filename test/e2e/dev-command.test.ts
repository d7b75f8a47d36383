// The README's first command: `npm run dev` on a machine with the stack's packages gives a
// running local API and prints a key that works with curl.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { exampleRecords, projectRoot } from "../../scripts/lib/stack-config";

it("npm run dev starts the worker and prints an API key that works", async () => {
  const persistTo = mkdtempSync(join(tmpdir(), "tracking-edge-dev-"));
  const port = 5003;
  const child = spawn(
    "npm",
    ["run", "dev", "--", "--port", String(port), "--persist-to", persistTo],
    {
      cwd: projectRoot,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    const key = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no API key printed within 90 s:\n${output}`)),
        90_000,
      );
      const look = () => {
        const match = /Development API key \(account "dev"\): (te_[0-9a-f]{40})/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout.on("data", look);
      child.on("exit", (code) => reject(new Error(`npm run dev exited (${code}):\n${output}`)));
    });
    expect(output).toContain(`curl -s -H "Authorization: $KEY"`);
    const base = `http://127.0.0.1:${port}/api/v1`;
    const created = await fetch(`${base}/tracking-domains`, {
      method: "POST",
      headers: { authorization: key, "content-type": "application/json" },
      body: JSON.stringify({ domain: exampleRecords.v2.name }),
    });
    expect(created.status).toBe(200);
    const verified = await fetch(`${base}/tracking-domains/${exampleRecords.v2.name}/verify`, {
      method: "POST",
      headers: { authorization: key },
    });
    expect(((await verified.json()) as { results: { verified: boolean } }).results.verified).toBe(
      true,
    );
  } finally {
    if (child.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    }
    rmSync(persistTo, { recursive: true, force: true });
  }
}, 120_000);
