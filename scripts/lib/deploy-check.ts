// What a deployment needs on the Cloudflare account, read back through the official SDK: each
// prerequisite of docs/deploy.md as a check that passes or says how to fix it. Read-only: it
// changes nothing on the account. scripts/deploy-check.ts prints them; the e2e test runs them
// against the API stand-in.
import Cloudflare from "cloudflare";

export interface Check {
  name: string;
  ok: boolean;
  /** What was found. */
  found: string;
  /** How to fix it, when it failed. */
  fix: string | null;
}

export interface DeploymentPlan {
  accountId: string;
  /** The Worker's name (wrangler.toml `name`). */
  scriptName: string;
  /** Every D1 database bound; `jurisdiction` eu for the EU engagement store (DB_EU). */
  d1: { name: string; id: string; jurisdiction: "eu" | null }[];
  /** Every queue the Worker produces to or consumes from, and the dead-letter queues. */
  queues: { name: string; jurisdiction: "eu" | null }[];
  /** wrangler.toml `routes`: patterns, each a custom domain or a route on a zone. */
  routes: { pattern: string; customDomain: boolean }[];
  deployer: "edge-pull" | "cloudflare-for-saas" | "cloudflare-managed";
  /** The SaaS zone (CLOUDFLARE_ZONE_ID); required for the Cloudflare modes. */
  saasZoneId: string | null;
  /** The names customers CNAME to (V2 and standard, US and EU). */
  endpoints: string[];
}

/** The secrets each mode needs (`wrangler secret put`). */
export function requiredSecrets(deployer: DeploymentPlan["deployer"]): string[] {
  const common = ["KEY_ENCRYPTION_KEYS", "LINK_SIGNING_KEYS"];
  return deployer === "edge-pull"
    ? [...common, "EDGE_PULL_TOKEN"]
    : [...common, "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ZONE_ID"];
}

export async function checkDeployment(
  plan: DeploymentPlan,
  api: { token: string; baseUrl?: string },
): Promise<Check[]> {
  const client = new Cloudflare({
    apiToken: api.token,
    ...(api.baseUrl ? { baseURL: api.baseUrl } : {}),
    maxRetries: 0,
    timeout: 15_000,
  });
  const account_id = plan.accountId;
  const checks: Check[] = [];
  /** Runs one check; an API failure is that check's ✗, with what Cloudflare said. */
  const check = async (
    name: string,
    fix: string,
    run: () => Promise<{ ok: boolean; found: string }>,
  ) => {
    try {
      const { ok, found } = await run();
      checks.push({ name, ok, found, fix: ok ? null : fix });
    } catch (error) {
      checks.push({ name, ok: false, found: `the API refused: ${(error as Error).message}`, fix });
    }
  };

  for (const database of plan.d1) {
    const create = `npx wrangler d1 create ${database.name}${
      database.jurisdiction ? ` --jurisdiction ${database.jurisdiction}` : ""
    }, and put its database_id into wrangler.toml`;
    await check(`D1 database ${database.name}`, create, async () => {
      const db = await client.d1.database.get(database.id, { account_id });
      const where = db.jurisdiction ?? null;
      // A jurisdiction is set when a database is made and cannot be changed afterwards.
      if (database.jurisdiction && where !== database.jurisdiction)
        return {
          ok: false,
          found: `${db.name ?? database.name} (${database.id}), not restricted to the ${database.jurisdiction.toUpperCase()} jurisdiction`,
        };
      return { ok: true, found: `${db.name ?? database.name} (${database.id})` };
    });
  }

  const existingQueues = new Map<string, string | null>();
  try {
    for await (const queue of client.queues.list({ account_id }))
      if (queue.queue_name) existingQueues.set(queue.queue_name, queue.jurisdiction ?? null);
  } catch {
    // Each queue's check below says it is missing.
  }
  for (const queue of plan.queues) {
    const fix = queue.jurisdiction
      ? `create it in the ${queue.jurisdiction.toUpperCase()} jurisdiction: dashboard → Queues → Create queue, or POST /accounts/${account_id}/queues {"queue_name": "${queue.name}", "jurisdiction": "${queue.jurisdiction}"} (docs/deploy.md)`
      : `npx wrangler queues create ${queue.name}`;
    await check(`queue ${queue.name}`, fix, async () => {
      if (!existingQueues.has(queue.name)) return { ok: false, found: "missing" };
      const where = existingQueues.get(queue.name) ?? null;
      if (queue.jurisdiction && where !== queue.jurisdiction)
        return {
          ok: false,
          found: `exists, not restricted to the ${queue.jurisdiction.toUpperCase()} jurisdiction`,
        };
      return { ok: true, found: "exists" };
    });
  }

  const secrets = new Set<string>();
  let secretsRead = true;
  try {
    for await (const secret of client.workers.scripts.secrets.list(plan.scriptName, { account_id }))
      secrets.add(secret.name ?? "");
  } catch {
    secretsRead = false;
  }
  for (const secret of requiredSecrets(plan.deployer)) {
    await check(
      `secret ${secret}`,
      `npx wrangler secret put ${secret} (docs/deploy.md)`,
      async () => ({
        ok: secrets.has(secret),
        found: secrets.has(secret) ? "set" : secretsRead ? "not set" : "the Worker is not deployed",
      }),
    );
  }

  if (plan.routes.length === 0) {
    checks.push({
      name: "routes",
      ok: false,
      found: "wrangler.toml names no routes",
      fix: "uncomment `routes` in wrangler.toml: the API host, and */* on the SaaS zone",
    });
  }
  for (const route of plan.routes) {
    await check(
      `route ${route.pattern}`,
      "npx wrangler deploy (it applies wrangler.toml's routes)",
      async () => {
        if (route.customDomain) {
          for await (const domain of client.workers.domains.list({
            account_id,
            hostname: route.pattern,
          }))
            if (domain.hostname === route.pattern)
              return {
                ok: domain.service === plan.scriptName,
                found: `custom domain for ${domain.service}`,
              };
          return { ok: false, found: "no custom domain" };
        }
        const zone_id = plan.saasZoneId ?? "";
        for await (const found of client.workers.routes.list({ zone_id }))
          if (found.pattern === route.pattern)
            return {
              ok: found.script === plan.scriptName,
              found: `route to ${found.script ?? "no Worker"}`,
            };
        return { ok: false, found: "no such route on the SaaS zone" };
      },
    );
  }

  if (plan.deployer === "edge-pull") return checks;
  const zone_id = plan.saasZoneId;
  if (!zone_id) {
    checks.push({
      name: "SaaS zone",
      ok: false,
      found: "CLOUDFLARE_ZONE_ID is not given",
      fix: "run with CLOUDFLARE_ZONE_ID set to the SaaS zone's id",
    });
    return checks;
  }

  await check(
    "fallback origin",
    "create a proxied AAAA origin → 100:: and make it the fallback origin (docs/deploy.md)",
    async () => {
      const origin = await client.customHostnames.fallbackOrigin.get({ zone_id });
      return {
        ok: origin.status === "active",
        found: `${origin.origin ?? "none"}: ${origin.status ?? "unknown"}`,
      };
    },
  );

  for (const endpoint of plan.endpoints) {
    await check(
      `endpoint ${endpoint}`,
      `add a proxied CNAME ${endpoint} → the fallback origin, on the SaaS zone`,
      async () => {
        const page = await client.dns.records.list({ zone_id, name: { exact: endpoint } });
        const record = page.result.find((r) => r.name === endpoint);
        if (!record) return { ok: false, found: "no record" };
        return {
          ok: record.proxied === true,
          found: `${record.type} ${record.proxied ? "proxied" : "DNS only"}`,
        };
      },
    );
  }

  await check(
    "Always Use HTTPS off",
    "SSL/TLS → Edge Certificates → Always Use HTTPS: off (http:// links and HTTP-only domains need plain HTTP)",
    async () => {
      const setting = (await client.zones.settings.get("always_use_https", { zone_id })) as {
        value?: unknown;
      };
      return { ok: setting.value === "off", found: String(setting.value) };
    },
  );

  if (plan.deployer === "cloudflare-for-saas") {
    await check(
      "custom certificates (Enterprise)",
      'custom certificates on custom hostnames are Enterprise-only: get the entitlement, or set CERTIFICATE_DEPLOYER = "cloudflare-managed"',
      async () => {
        const zone = await client.zones.get({ zone_id });
        const plan = zone.plan?.legacy_id ?? zone.plan?.name ?? "unknown";
        return { ok: /enterprise/i.test(plan), found: `zone plan ${plan}` };
      },
    );
  }
  return checks;
}

/** The checks as lines: ✓ or ✗, the name, what was found, and the fix of each ✗. */
export function formatChecks(checks: Check[]): string {
  return checks
    .map((c) => `${c.ok ? "✓" : "✗"} ${c.name}: ${c.found}${c.fix ? `\n    fix: ${c.fix}` : ""}`)
    .join("\n");
}
