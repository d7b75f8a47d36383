// Managed HTTPS when the CA misbehaves: half of all nonces rejected, and the CA stopped in the
// middle of an order and restarted with no memory. Then a look at everything the worker stored:
// no private key in the clear. This file restarts the stack's Pebble, so e2e files run serially.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { startPebble } from "../../scripts/lib/local-stack";
import { sleep, stopDaemon } from "../../scripts/lib/processes";
import { api, verifiedManagedDomain, waitForDomain } from "./helpers";

const key = () => inject("apiKeys").alpha;
const isValid = (d: { status: { tls_status: string } }) => d.status.tls_status === "valid";

async function restartPebble(env: Record<string, string> = {}): Promise<void> {
  await stopDaemon("pebble");
  await startPebble({ env });
}

interface Event {
  to: string;
  reason: string;
  error_code: string | null;
}

async function eventsOf(domain: string): Promise<Event[]> {
  const response = await api(
    key(),
    "GET",
    `/tracking-domains/${domain}/certificate/events?limit=500`,
  );
  return (await response.json<{ results: Event[] }>()).results;
}

afterAll(() => restartPebble());

describe("managed HTTPS against a difficult CA", () => {
  it("issues for 20 domains at once while the CA rejects half of all nonces", async () => {
    await restartPebble({ PEBBLE_WFE_NONCEREJECT: "50" });
    const domains = await Promise.all(
      Array.from({ length: 20 }, () => verifiedManagedDomain(key())),
    );
    const results = await Promise.all(domains.map((d) => waitForDomain(key(), d, isValid, 60_000)));
    expect(results.every((d) => d.secure && d.tls_certificate.error_code === null)).toBe(true);
  }, 90_000);

  it("recovers by itself when the CA is stopped mid-order and comes back with no memory", async () => {
    await restartPebble();
    const domain = await verifiedManagedDomain(key());
    // Wait until the challenge is answered, then take the CA away.
    const deadline = Date.now() + 10_000;
    while (!(await eventsOf(domain)).some((e) => e.to === "await_authorization")) {
      if (Date.now() > deadline) throw new Error("the order never reached the challenge");
      await sleep(10);
    }
    await stopDaemon("pebble");
    await sleep(2500);
    await startPebble();

    const valid = await waitForDomain(key(), domain, isValid, 90_000);
    expect(valid.tls_certificate.error_code).toBeNull();
    const events = await eventsOf(domain);
    // It did go through the trouble: the CA was unreachable, then had forgotten the order.
    expect(events.some((e) => e.error_code === "acme:temporary")).toBe(true);
    expect(events.some((e) => /no longer knows/.test(e.reason))).toBe(true);
  }, 120_000);
});

describe("keys at rest", () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      try {
        return statSync(path).isDirectory() ? files(path) : [path];
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    });

  it("keeps no private key in the clear in Durable Object storage or D1", async () => {
    await waitForDomain(key(), await verifiedManagedDomain(key()), isValid);
    // The worker is live: SQLite may drop a -shm or -wal file between the listing and the read.
    // A file gone by then holds nothing.
    const stored = files(join(inject("persistTo"), "v3")).flatMap((path) => {
      try {
        return [{ path, bytes: readFileSync(path) }];
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
    });
    const all = Buffer.concat(stored.map((f) => f.bytes));
    // The test would prove nothing if the keys were not there at all: they are, wrapped.
    expect(all.includes(Buffer.from('"v1.local.'))).toBe(false);
    expect(
      (all.toString("latin1").match(/v1\.local\.[A-Za-z0-9_-]{16}\./g) ?? []).length,
    ).toBeGreaterThan(1);

    // What an unwrapped key would look like: PKCS #8 for P-256 (DER and base64), a PEM label,
    // a JWK's private member.
    const pkcs8P256 = Buffer.from(
      "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420",
      "hex",
    );
    const markers = [
      pkcs8P256,
      Buffer.from(pkcs8P256.toString("base64").slice(0, 40)),
      Buffer.from("PRIVATE KEY"),
      Buffer.from('"d":"'),
    ];
    for (const file of stored) {
      for (const marker of markers) {
        expect(file.bytes.includes(marker), `${marker.toString("latin1")} in ${file.path}`).toBe(
          false,
        );
      }
    }
  });
});
