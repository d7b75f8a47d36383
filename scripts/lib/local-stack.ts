// The local ACME and DNS stack: Pebble (the test CA), dnsmasq (a static .test zone), a
// pebble-challtestsrv behind it for records tests change at run time, and dnss serving DoH.
// Starting is idempotent; it waits until every service answers. It does not start the worker.

import { execFileSync, spawnSync } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { userInfo } from "node:os";
import * as dnsPacket from "@dnsquery/dns-packet";
import { lastLogLines, runningPid, startDaemon, stopDaemon, waitFor } from "./processes";
import {
  caCertificatePath,
  dynamicZone,
  endpoints,
  exampleRecords,
  lifecyclePebble,
  pebbleBlockedName,
  ports,
  publicLookingZone,
  stackDir,
  testPebble,
  urls,
} from "./stack-config";

/** Debian packages the stack needs, with the binary each provides. */
export const requiredPackages = [
  { pkg: "pebble", binary: "pebble" },
  { pkg: "pebble", binary: "pebble-challtestsrv" },
  { pkg: "dnsmasq-base", binary: "dnsmasq" },
  { pkg: "dnss", binary: "dnss" },
  { pkg: "openssl", binary: "openssl" },
  // Only the end-to-end tests: a customer's reverse proxy in front of the worker.
  { pkg: "nginx", binary: "nginx", forTests: true },
  // Only the end-to-end tests: the browser the UI tests drive (playwright-core).
  { pkg: "chromium", binary: "chromium", forTests: true },
] as const;

const searchPath = [
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
  ...(process.env.PATH ?? "").split(":"),
];

export function findBinary(name: string): string | undefined {
  return searchPath.map((dir) => `${dir}/${name}`).find((path) => existsSync(path));
}

export function missingPackages(options: { forTests?: boolean } = {}): string[] {
  const needed = requiredPackages.filter((p) => options.forTests || !("forTests" in p));
  return [...new Set(needed.filter((p) => !findBinary(p.binary)).map((p) => p.pkg))];
}

/** Installs the stack's Debian packages; only as root, otherwise says what to run. */
export function installPackages(options: { forTests?: boolean } = {}): void {
  const missing = missingPackages(options);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing Debian packages: ${missing.join(" ")}\n` +
        `  install them with: sudo apt-get install -y ${missing.join(" ")}`,
    );
  }
  const apt = (args: string[]) =>
    spawnSync("apt-get", args, {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status;
  if (apt(["install", "-y", "--no-install-recommends", ...missing]) !== 0) {
    // A fresh machine may have no package lists yet.
    if (
      apt(["update"]) !== 0 ||
      apt(["install", "-y", "--no-install-recommends", ...missing]) !== 0
    ) {
      throw new Error(`apt-get install ${missing.join(" ")} failed`);
    }
  }
}

const caDir = `${stackDir}/ca`;
const configDir = `${stackDir}/config`;

/** A throwaway CA and a certificate for localhost/127.0.0.1, made once, for Pebble's own HTTPS. */
function ensureCertificates(): void {
  if (existsSync(`${caDir}/localhost.pem`)) return;
  mkdirSync(caDir, { recursive: true });
  const openssl = (...args: string[]) =>
    execFileSync("openssl", args, { cwd: caDir, stdio: "pipe" });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  // biome-ignore format: flag and value pairs read better on shared lines
  openssl(
    "req", "-x509", ...ecKey, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
    "-subj", "/CN=tracking-edge local stack CA",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  );
  openssl(
    "req",
    ...ecKey,
    "-keyout",
    "localhost.key",
    "-out",
    "localhost.csr",
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(
    `${caDir}/localhost.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  // biome-ignore format: flag and value pairs read better on shared lines
  openssl(
    "x509", "-req", "-in", "localhost.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
    "-CAcreateserial", "-out", "localhost.pem", "-days", "825", "-extfile", "localhost.ext",
  );
}

export interface PebbleOptions {
  name?: string;
  acmePort?: number;
  managementPort?: number;
  httpPort?: number;
  env?: Record<string, string>;
  config?: Record<string, unknown>;
}

/** Pebble's environment for the shared stack: no validation sleep, some nonce rejection. */
export const defaultPebbleEnv = {
  PEBBLE_VA_NOSLEEP: "1",
  PEBBLE_WFE_NONCEREJECT: "5",
  PEBBLE_AUTHZREUSE: "0",
} as const;

/** Starts a Pebble with the given config overrides (tests start extra ones on other ports). */
export async function startPebble(options: PebbleOptions = {}): Promise<void> {
  const name = options.name ?? "pebble";
  const acmePort = options.acmePort ?? ports.pebbleAcme;
  const managementPort = options.managementPort ?? ports.pebbleManagement;
  if (runningPid(name) !== undefined) return;
  ensureCertificates();
  mkdirSync(configDir, { recursive: true });
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: `${caDir}/localhost.pem`,
      privateKey: `${caDir}/localhost.key`,
      httpPort: options.httpPort ?? ports.worker,
      tlsPort: 5001,
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      domainBlocklist: [pebbleBlockedName],
      ...options.config,
    },
  };
  const configPath = `${configDir}/${name}.json`;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  startDaemon({
    name,
    command: requireBinary("pebble"),
    args: ["-config", configPath, "-dnsserver", `127.0.0.1:${ports.dnsmasq}`],
    env: { ...defaultPebbleEnv, ...options.env },
  });
  await waitFor(
    name,
    async () => (await httpsStatus(`https://127.0.0.1:${acmePort}/dir`)) === 200,
    15_000,
    () => lastLogLines(name),
  );
}

function requireBinary(name: string): string {
  const path = findBinary(name);
  if (!path) {
    const pkg = requiredPackages.find((p) => p.binary === name)?.pkg ?? name;
    throw new Error(
      `${name} is not installed (Debian package ${pkg}).\n` +
        `  Install the stack's packages with: npm run stack:install (as root), or\n` +
        `  sudo apt-get install -y ${[...new Set(requiredPackages.map((p) => p.pkg))].join(" ")}`,
    );
  }
  return path;
}

function httpsStatus(url: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { ca: readFileSync(caCertificatePath), timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function writeDnsmasqConfig(): string {
  mkdirSync(configDir, { recursive: true });
  const hostRecords = Object.values(endpoints).map((name) => `host-record=${name},127.0.0.1`);
  const lines = [
    `port=${ports.dnsmasq}`,
    "listen-address=127.0.0.1",
    "bind-interfaces",
    "no-resolv",
    "no-hosts",
    "cache-size=0",
    "log-queries",
    "log-facility=-",
    // Every .test name is answered here (unknown ones NXDOMAIN); the dynamic zone goes to
    // challtestsrv, whose records tests change through its HTTP API.
    "local=/test/",
    `server=/${dynamicZone}/127.0.0.1#${ports.challtestsrvDns}`,
    `server=/${publicLookingZone}/127.0.0.1#${ports.challtestsrvDns}`,
    ...hostRecords,
    `cname=${exampleRecords.v2.name},${exampleRecords.v2.cname}`,
    `cname=${exampleRecords.standard.name},${exampleRecords.standard.cname}`,
    `host-record=${exampleRecords.noCname.name},${exampleRecords.noCname.a}`,
  ];
  const path = `${configDir}/dnsmasq.conf`;
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

async function dnsAnswers(name: string): Promise<boolean> {
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${ports.dnsmasq}`]);
  return (await resolver.resolve4(name)).includes("127.0.0.1");
}

async function startDns(): Promise<void> {
  if (runningPid("challtestsrv") === undefined) {
    startDaemon({
      name: "challtestsrv",
      command: requireBinary("pebble-challtestsrv"),
      // biome-ignore format: flag and value pairs read better on shared lines
      args: [
        "-dns01", `127.0.0.1:${ports.challtestsrvDns}`,
        "-management", `127.0.0.1:${ports.challtestsrvManagement}`,
        "-http01", `127.0.0.1:${ports.challtestsrvHttp01}`, "-https01", "", "-tlsalpn01", "",
        "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
      ],
    });
  }
  if (runningPid("dnsmasq") === undefined) {
    const config = writeDnsmasqConfig();
    const user = userInfo().username;
    startDaemon({
      name: "dnsmasq",
      command: requireBinary("dnsmasq"),
      args: ["--keep-in-foreground", `--conf-file=${config}`, `--user=${user}`, "--pid-file="],
    });
  }
  if (runningPid("dnss") === undefined) {
    startDaemon({
      name: "dnss",
      command: requireBinary("dnss"),
      // biome-ignore format: flag and value pairs read better on shared lines
      args: [
        "-enable_https_to_dns", "-insecure_http_server",
        "-https_server_addr", `127.0.0.1:${ports.dnssHttp}`,
        "-dns_upstream", `127.0.0.1:${ports.dnsmasq}`,
        "-fallback_upstream", `127.0.0.1:${ports.dnsmasq}`,
        "-https_upstream", urls.doh,
        "-dns_listen_addr", `127.0.0.1:${ports.dnssDns}`,
        "-enable_cache=false",
      ],
    });
  }
  await waitFor(
    "dnsmasq",
    () => dnsAnswers(endpoints.v2Us),
    10_000,
    () => lastLogLines("dnsmasq"),
  );
  await waitFor(
    "challtestsrv (through dnsmasq)",
    () => dnsAnswers(`ready.${dynamicZone}`),
    10_000,
    () => lastLogLines("challtestsrv"),
  );
  await waitFor("dnss", dohAnswers, 10_000, () => lastLogLines("dnss"));
}

/** One RFC 8484 GET for the V2 endpoint's A record; true once dnss answers with a DNS message. */
async function dohAnswers(): Promise<boolean> {
  const query = dnsPacket.encode({
    type: "query",
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", name: endpoints.v2Us }],
  });
  const response = await fetch(`${urls.doh}?dns=${Buffer.from(query).toString("base64url")}`, {
    headers: { accept: "application/dns-message" },
    signal: AbortSignal.timeout(1000),
  });
  return response.ok && response.headers.get("content-type") === "application/dns-message";
}

export const stackServices = ["pebble", "dnsmasq", "challtestsrv", "dnss"] as const;

/** What the tests add to the stack: the ACME client's Pebble and the certificate objects'. */
export const testServices = [testPebble.name, lifecyclePebble.name] as const;

export function stackIsRunning(options: { forTests?: boolean } = {}): boolean {
  return [...stackServices, ...(options.forTests ? testServices : [])].every(
    (n) => runningPid(n) !== undefined,
  );
}

/**
 * Starts the stack. For tests, also the test Pebble: its HTTP-01 goes to challtestsrv (so a
 * test inside workerd can answer challenges through challtestsrv's API) and it refuses one name.
 */
export async function startStack(options: { forTests?: boolean } = {}): Promise<void> {
  ensureCertificates();
  await startDns();
  await Promise.all([
    startPebble(),
    options.forTests
      ? startPebble({
          name: testPebble.name,
          acmePort: ports.testPebbleAcme,
          managementPort: ports.testPebbleManagement,
          httpPort: ports.challtestsrvHttp01,
        })
      : undefined,
    options.forTests
      ? startPebble({
          name: lifecyclePebble.name,
          acmePort: ports.lifecyclePebbleAcme,
          managementPort: ports.lifecyclePebbleManagement,
          // Validation takes 0 or 1 s (Pebble's default, up to 5 s, would slow every test); pages
          // of 100 orders, as a production CA's might be (Pebble's 3 test pagination): the test
          // runs place hundreds of orders on its one account.
          env: {
            PEBBLE_VA_ALWAYS_VALID: "1",
            PEBBLE_VA_SLEEPTIME: "2",
            PEBBLE_WFE_ORDERS_PER_PAGE: "100",
          },
        })
      : undefined,
  ]);
}

export async function stopStack(): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of [...testServices, "pebble", "dnss", "dnsmasq", "challtestsrv"]) {
    if (await stopDaemon(name)) stopped.push(name);
  }
  return stopped;
}
