// Where the local stack lives and listens: one place that the stack scripts, the dev server and
// the tests read. Everything binds to 127.0.0.1; ports are the ones LOCAL-STACK.md found free.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const projectRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export const stackDir = resolve(process.env.TRACKING_EDGE_STACK_DIR ?? `${projectRoot}/.stack`);

export const ports = {
  pebbleAcme: 14000,
  pebbleManagement: 14015,
  /** Pebble validates HTTP-01 on this port, so the worker listens here in dev and e2e tests. */
  worker: 5002,
  dnsmasq: 14053,
  challtestsrvDns: 14054,
  challtestsrvManagement: 14055,
  /** challtestsrv's HTTP-01 responder, for ACME client tests (their Pebble validates here). */
  challtestsrvHttp01: 5004,
  /** A second Pebble for the ACME client's own tests, validating on challtestsrv. */
  testPebbleAcme: 14100,
  testPebbleManagement: 14115,
  /** The e2e tests' renewal-information stand-in in front of Pebble's directory. */
  ariDirectory: 14600,
  dnssHttp: 14080,
  dnssDns: 14081,
  /** The local TLS terminator (scripts/tls-edge.ts): HTTPS for tracking domains. */
  tlsEdge: 14443,
  /** The e2e tests' customer reverse proxy (nginx) for self-managed HTTPS; the worker probes it here. */
  selfManagedProxy: 14444,
  /** The Cloudflare API stand-in of the e2e tests. */
  cloudflareStandin: 14700,
  /** A worker and a Pebble of their own for the Cloudflare deployer's e2e test. */
  cloudflareWorker: 5006,
  cloudflarePebbleAcme: 14200,
  /** Renewal information in front of that Pebble, as ariDirectory is for the main one. */
  cloudflareAriDirectory: 14610,
  /** A worker in cloudflare-managed mode (no CA of its own: Cloudflare's stand-in issues). */
  cloudflareManagedWorker: 5007,
  /** A Pebble that finds every challenge valid, for certificate objects driven inside workerd. */
  lifecyclePebbleAcme: 14330,
  lifecyclePebbleManagement: 14345,
  /** Pebbles of the ACME client's e2e tests, each with one setting changed (management on +15). */
  nonceRejectPebbleAcme: 14230,
  eabPebbleAcme: 14260,
  altRootsPebbleAcme: 14400,
  /** bench:issuance's own Pebble. */
  benchPebbleAcme: 14500,
} as const;

/** Names the static test zone serves (dnsmasq). All answer 127.0.0.1, IPv4 only (Pebble dials AAAA first). */
export const endpoints = {
  v2Us: "v2.track-endpoint.test",
  v2Eu: "eu.v2.track-endpoint.test",
  standardUs: "track-endpoint.test",
  standardEu: "eu.track-endpoint.test",
} as const;

/**
 * Names under this zone are forwarded by dnsmasq to pebble-challtestsrv, whose HTTP API lets a
 * test add CNAME, A and CAA records or make a name answer SERVFAIL while the stack runs.
 */
export const dynamicZone = "dyn.test";

/**
 * A zone with a public suffix (RFC 2606 reserves it), also answered by challtestsrv: for what
 * must be a public name, such as a webhook's target, pointed at whatever address a test wants.
 */
export const publicLookingZone = "example.net";

/** Static examples for people trying the API by hand (README). */
export const exampleRecords = {
  v2: { name: "track.shop.test", cname: endpoints.v2Us },
  standard: { name: "legacy.shop.test", cname: endpoints.standardUs },
  noCname: { name: "plain.shop.test", a: "127.0.0.1" },
} as const;

export const urls = {
  acmeDirectory: `https://127.0.0.1:${ports.pebbleAcme}/dir`,
  pebbleManagement: `https://127.0.0.1:${ports.pebbleManagement}`,
  doh: `http://127.0.0.1:${ports.dnssHttp}/dns-query`,
  challtestsrv: `http://127.0.0.1:${ports.challtestsrvManagement}`,
  worker: `http://127.0.0.1:${ports.worker}`,
} as const;

/** A name every local Pebble refuses (its domainBlocklist): rejectedIdentifier in tests. */
export const pebbleBlockedName = `blocked.${dynamicZone}`;

/** The test Pebble: its HTTP-01 goes to challtestsrv. */
export const testPebble = {
  name: "pebble-test",
  directory: `https://127.0.0.1:${ports.testPebbleAcme}/dir`,
  management: `https://127.0.0.1:${ports.testPebbleManagement}`,
  blockedName: pebbleBlockedName,
} as const;

/**
 * The Pebble of the workers tests' certificate objects: nothing inside workerd can answer
 * HTTP-01 for them, so it takes every challenge as valid (PEBBLE_VA_ALWAYS_VALID). HTTP-01 at the
 * edge is tested against real validation elsewhere (test/workers/http01.test.ts, the e2e tests).
 */
export const lifecyclePebble = {
  name: "pebble-lifecycle",
  directory: `https://127.0.0.1:${ports.lifecyclePebbleAcme}/dir`,
  management: `https://127.0.0.1:${ports.lifecyclePebbleManagement}`,
} as const;

export const caCertificatePath = `${stackDir}/ca/ca.pem`;

/** The worker's configuration for local runs: the variables of DESIGN.md pointed at this stack. */
export const localWorkerVars = {
  ACME_DIRECTORY_URL: urls.acmeDirectory,
  ACME_CONTACT_EMAIL: "ops@example.test",
  CAA_IDENTITIES: "letsencrypt.org",
  DOH_URL: urls.doh,
  V2_ENDPOINT_US: endpoints.v2Us,
  V2_ENDPOINT_EU: endpoints.v2Eu,
  STANDARD_ENDPOINT_US: endpoints.standardUs,
  STANDARD_ENDPOINT_EU: endpoints.standardEu,
  API_HOSTNAMES: "localhost,127.0.0.1",
  EXTRA_PUBLIC_SUFFIXES: "test",
  POLICY_BLOCKLIST: `.forbidden.${dynamicZone}`,
  EU_JURISDICTION: "",
  ACME_EAB_KID: "",
  ACME_EAB_HMAC_KEY: "",
  HTTPS_PROBE_PORT: "443",
  CERTIFICATE_DEPLOYER: "edge-pull",
  CLOUDFLARE_API_BASE_URL: "",
  CLOUDFLARE_API_TOKEN: "",
  CLOUDFLARE_ZONE_ID: "",
  WEBHOOK_ALLOW_INSECURE_TARGETS: "true",
} as const;

/** A fresh key ring for KEY_ENCRYPTION_KEYS: 32 random bytes under the id "local". */
export function generatedKeyRing(): string {
  const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
  return JSON.stringify({ current: "local", keys: { local: key } });
}

/** A fresh random bearer token (EDGE_PULL_TOKEN): 32 bytes, base64url. */
export function generatedToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}
