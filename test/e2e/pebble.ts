// Extra Pebbles for the ACME client's end-to-end tests, each with the setting under test, and
// what a test needs from them: the client, a fresh account, roots, and openssl's verdict.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPebble } from "../../scripts/lib/local-stack";
import { stopDaemon } from "../../scripts/lib/processes";
import { dynamicZone, ports, urls } from "../../scripts/lib/stack-config";
import { newAccount } from "../../src/acme/account";
import { AcmeClient, type AcmeClientOptions, type Signer } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import { toPem } from "../../src/pki/pem";
import { challtestsrvResponder } from "../support/challtestsrv";

export interface TestPebble {
  directory: string;
  management: string;
  stop: () => Promise<void>;
}

/** A Pebble on `acmePort` (management on acmePort + 15) validating HTTP-01 on challtestsrv. */
export async function startTestPebble(
  name: string,
  acmePort: number,
  options: { env?: Record<string, string>; config?: Record<string, unknown> } = {},
): Promise<TestPebble> {
  await startPebble({
    name,
    acmePort,
    managementPort: acmePort + 15,
    httpPort: ports.challtestsrvHttp01,
    ...(options.env ? { env: options.env } : {}),
    ...(options.config ? { config: options.config } : {}),
  });
  return {
    directory: `https://127.0.0.1:${acmePort}/dir`,
    management: `https://127.0.0.1:${acmePort + 15}`,
    stop: async () => {
      await stopDaemon(name);
    },
  };
}

export async function accountOn(client: AcmeClient): Promise<Signer> {
  const key = await generateAccountKey();
  const created = await newAccount(client, key, {
    contact: ["mailto:ops@example.test"],
    termsOfServiceAgreed: true,
  });
  return { key, accountUrl: created.url };
}

export const clientFor = (directory: string, options: Partial<AcmeClientOptions> = {}) =>
  new AcmeClient({ directoryUrl: directory, ...options });

export const responder = challtestsrvResponder(urls.challtestsrv);

export const uniqueName = (label = "n") =>
  `${label}${Math.random().toString(36).slice(2, 10)}.acme.${dynamicZone}`;

/** Pebble's root certificate number `index` (PEM), from its management interface. */
export async function pebbleRoot(management: string, index = 0): Promise<string> {
  const response = await fetch(`${management}/roots/${index}`);
  if (!response.ok) throw new Error(`no root ${index}: HTTP ${response.status}`);
  return response.text();
}

/** `openssl verify` of a chain (leaf first) against `rootPem` for `name`; its output on success. */
export function opensslVerify(chain: Uint8Array[], rootPem: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tracking-edge-verify-"));
  try {
    const [leaf, ...intermediates] = chain;
    writeFileSync(join(dir, "root.pem"), rootPem);
    writeFileSync(join(dir, "leaf.pem"), toPem("CERTIFICATE", leaf as Uint8Array));
    writeFileSync(
      join(dir, "intermediates.pem"),
      intermediates.map((der) => toPem("CERTIFICATE", der)).join(""),
    );
    return execFileSync(
      "openssl",
      [
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "intermediates.pem",
        "-verify_hostname",
        name,
        "leaf.pem",
      ],
      { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    ).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
