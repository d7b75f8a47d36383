// npm run deploy:check against the Cloudflare API stand-in: an account set up as docs/deploy.md
// says passes every check; each missing piece is a ✗ with its fix; the command exits 1 on any ✗.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { checkDeployment, type DeploymentPlan } from "../../scripts/lib/deploy-check";
import {
  type AccountModel,
  type CloudflareApiStandin,
  startCloudflareApi,
} from "../support/cloudflare-api";

const apiToken = "deploy-check-token";
const zoneId = "c".repeat(32);
const accountId = "a".repeat(32);
const databaseId = "11111111-2222-3333-4444-555555555555";
const euDatabaseId = "66666666-7777-8888-9999-000000000000";
const endpoints = [
  "v2.track.example.com",
  "eu.v2.track.example.com",
  "track.example.com",
  "eu.track.example.com",
];

/** An account prepared as docs/deploy.md describes, for cloudflare-managed. */
const readyAccount = (): AccountModel => ({
  accountId,
  d1: [
    { uuid: databaseId, name: "tracking-edge" },
    { uuid: euDatabaseId, name: "tracking-edge-eu", jurisdiction: "eu" },
  ],
  queues: [
    { name: "tracking-edge-engagement" },
    { name: "tracking-edge-engagement-failed" },
    { name: "tracking-edge-engagement-eu", jurisdiction: "eu" },
    { name: "tracking-edge-engagement-eu-failed", jurisdiction: "eu" },
  ],
  secrets: {
    "tracking-edge": [
      "KEY_ENCRYPTION_KEYS",
      "LINK_SIGNING_KEYS",
      "CLOUDFLARE_API_TOKEN",
      "CLOUDFLARE_ZONE_ID",
    ],
  },
  workerDomains: [{ hostname: "api.track.example.com", service: "tracking-edge" }],
  routes: [{ pattern: "*/*", script: "tracking-edge" }],
  fallbackOrigin: { origin: "origin.track.example.com", status: "active" },
  dnsRecords: [
    { name: "origin.track.example.com", type: "AAAA", content: "100::", proxied: true },
    ...endpoints.map((name) => ({
      name,
      type: "CNAME",
      content: "origin.track.example.com",
      proxied: true,
    })),
  ],
  alwaysUseHttps: "off",
  plan: { name: "Free Website", legacy_id: "free" },
});

const plan: DeploymentPlan = {
  accountId,
  scriptName: "tracking-edge",
  d1: [
    { name: "tracking-edge", id: databaseId, jurisdiction: null },
    { name: "tracking-edge-eu", id: euDatabaseId, jurisdiction: "eu" },
  ],
  queues: [
    { name: "tracking-edge-engagement", jurisdiction: null },
    { name: "tracking-edge-engagement-failed", jurisdiction: null },
    { name: "tracking-edge-engagement-eu", jurisdiction: "eu" },
    { name: "tracking-edge-engagement-eu-failed", jurisdiction: "eu" },
  ],
  routes: [
    { pattern: "api.track.example.com", customDomain: true },
    { pattern: "*/*", customDomain: false },
  ],
  deployer: "cloudflare-managed",
  saasZoneId: zoneId,
  endpoints,
};

let cloudflare: CloudflareApiStandin;
beforeAll(async () => {
  cloudflare = await startCloudflareApi({ port: 0, zoneId, apiToken, account: readyAccount() });
});
afterAll(async () => {
  await cloudflare?.close();
});
beforeEach(() => {
  Object.assign(cloudflare.account, readyAccount());
});

const run = (over: Partial<DeploymentPlan> = {}) =>
  checkDeployment({ ...plan, ...over }, { token: apiToken, baseUrl: cloudflare.baseUrl });
const failing = async (over: Partial<DeploymentPlan> = {}) =>
  (await run(over)).filter((c) => !c.ok).map((c) => [c.name, c.fix]);

describe("deploy:check", () => {
  it("passes every check on an account set up as documented", async () => {
    const checks = await run();
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      "D1 database tracking-edge",
      "D1 database tracking-edge-eu",
      "queue tracking-edge-engagement",
      "queue tracking-edge-engagement-failed",
      "queue tracking-edge-engagement-eu",
      "queue tracking-edge-engagement-eu-failed",
      "secret KEY_ENCRYPTION_KEYS",
      "secret LINK_SIGNING_KEYS",
      "secret CLOUDFLARE_API_TOKEN",
      "secret CLOUDFLARE_ZONE_ID",
      "route api.track.example.com",
      "route */*",
      "fallback origin",
      ...endpoints.map((e) => `endpoint ${e}`),
      "Always Use HTTPS off",
    ]);
  });

  it("names each missing piece with its fix", async () => {
    const account = cloudflare.account;
    // The EU database made without its jurisdiction, the EU queue too.
    account.d1 = [{ uuid: euDatabaseId, name: "tracking-edge-eu" }];
    account.queues = [
      { name: "tracking-edge-engagement" },
      { name: "tracking-edge-engagement-eu" },
      { name: "tracking-edge-engagement-eu-failed", jurisdiction: "eu" },
    ];
    account.secrets = {
      "tracking-edge": ["KEY_ENCRYPTION_KEYS", "LINK_SIGNING_KEYS", "CLOUDFLARE_ZONE_ID"],
    };
    account.routes = [{ pattern: "*/*", script: "another-worker" }];
    account.fallbackOrigin = { origin: "origin.track.example.com", status: "pending_deployment" };
    account.dnsRecords = account.dnsRecords.map((r) =>
      r.name === "eu.track.example.com" ? { ...r, proxied: false } : r,
    );
    account.alwaysUseHttps = "on";
    expect(await failing()).toEqual([
      ["D1 database tracking-edge", expect.stringContaining("wrangler d1 create")],
      [
        "D1 database tracking-edge-eu",
        expect.stringContaining("wrangler d1 create tracking-edge-eu --jurisdiction eu"),
      ],
      [
        "queue tracking-edge-engagement-failed",
        "npx wrangler queues create tracking-edge-engagement-failed",
      ],
      ["queue tracking-edge-engagement-eu", expect.stringContaining('"jurisdiction": "eu"')],
      [
        "secret CLOUDFLARE_API_TOKEN",
        expect.stringContaining("wrangler secret put CLOUDFLARE_API_TOKEN"),
      ],
      ["route */*", expect.stringContaining("wrangler deploy")],
      ["fallback origin", expect.stringContaining("100::")],
      ["endpoint eu.track.example.com", expect.stringContaining("proxied CNAME")],
      ["Always Use HTTPS off", expect.stringContaining("Always Use HTTPS: off")],
    ]);
  });

  it("wants Enterprise for cloudflare-for-saas, and the pull token for edge-pull", async () => {
    const saas = await failing({ deployer: "cloudflare-for-saas" });
    expect(saas).toEqual([
      ["custom certificates (Enterprise)", expect.stringContaining("cloudflare-managed")],
    ]);
    cloudflare.account.plan = { name: "Enterprise Website", legacy_id: "enterprise" };
    expect(await failing({ deployer: "cloudflare-for-saas" })).toEqual([]);
    expect(await failing({ deployer: "edge-pull" })).toEqual([
      ["secret EDGE_PULL_TOKEN", expect.stringContaining("wrangler secret put EDGE_PULL_TOKEN")],
    ]);
  });

  it("says a Worker that was never deployed has no secrets, and that routes are missing", async () => {
    cloudflare.account.secrets = {};
    const checks = await run({ routes: [] });
    const secrets = checks.filter((c) => c.name.startsWith("secret "));
    expect(secrets.every((c) => !c.ok && c.found === "the Worker is not deployed")).toBe(true);
    expect(checks.find((c) => c.name === "routes")).toMatchObject({ ok: false });
  });

  it("as a command: reads wrangler.toml, prints ✓ and ✗ with fixes, exits 1 on any ✗", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tracking-edge-deploy-check-"));
    try {
      // The project's wrangler.toml, with a real database id and its routes uncommented.
      const config = readFileSync("wrangler.toml", "utf8")
        .replace(
          'database_id = "00000000-0000-0000-0000-000000000000"',
          `database_id = "${databaseId}"`,
        )
        .replace(
          'database_id = "00000000-0000-0000-0000-000000000001"',
          `database_id = "${euDatabaseId}"`,
        )
        .replace(/^# routes = \[\n#(.*)\n#(.*)\n# \]$/m, "routes = [\n$1\n$2\n]")
        .replace('main = "workers/edge.ts"', `main = "${join(process.cwd(), "workers/edge.ts")}"`);
      writeFileSync(join(dir, "wrangler.toml"), config);
      cloudflare.account.alwaysUseHttps = "on";
      const result = await promisify(execFile)(
        "npx",
        ["tsx", "scripts/deploy-check.ts", join(dir, "wrangler.toml")],
        {
          env: {
            ...process.env,
            CLOUDFLARE_API_TOKEN: apiToken,
            CLOUDFLARE_ACCOUNT_ID: accountId,
            CLOUDFLARE_ZONE_ID: zoneId,
            CLOUDFLARE_API_BASE_URL: cloudflare.baseUrl,
          },
        },
      ).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("✓ D1 database tracking-edge");
      expect(result.stdout).toContain("✓ route */*: route to tracking-edge");
      expect(result.stdout).toContain("✗ Always Use HTTPS off: on\n    fix: SSL/TLS");
      expect(result.stdout).toContain("✓ D1 database tracking-edge-eu");
      expect(result.stdout).toContain("✓ queue tracking-edge-engagement-eu-failed: exists");
      expect(result.stdout).toContain("1 of 18 checks failed.");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
