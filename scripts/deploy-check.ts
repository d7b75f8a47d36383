// npm run deploy:check — is the Cloudflare account ready for this wrangler.toml? Reads the
// account and the SaaS zone (nothing is changed) and prints each prerequisite of docs/deploy.md
// as ✓ or ✗ with its fix; exits 1 when any is ✗.
//
//   CLOUDFLARE_API_TOKEN=… CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_ZONE_ID=<SaaS zone> npm run deploy:check
//
// The token needs read access to what is checked: Account → Workers Scripts, D1, Queues (read);
// Zone → Workers Routes, DNS, Zone Settings, SSL and Certificates (read).
import { unstable_readConfig } from "wrangler";
import { checkDeployment, type DeploymentPlan, formatChecks } from "./lib/deploy-check";

const env = (name: string) => process.env[name]?.trim() || undefined;
const token = env("CLOUDFLARE_API_TOKEN");
const accountId = env("CLOUDFLARE_ACCOUNT_ID");
if (!token || !accountId) {
  console.error(
    "deploy:check needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID in the environment",
  );
  process.exit(2);
}
const config = unstable_readConfig(
  { config: process.argv[2] ?? "wrangler.toml" },
  { hideWarnings: true },
);
const vars = config.vars as Record<string, string>;
/** The bindings whose data must stay in the EU: the EU engagement database and queue. */
const euBindings = new Set(["DB_EU", "ENGAGEMENT_EVENTS_EU"]);
const producers = (config.queues.producers ?? []) as { binding: string; queue: string }[];
const euQueues = new Set(producers.filter((p) => euBindings.has(p.binding)).map((p) => p.queue));
const consumers = (config.queues.consumers ?? []) as {
  queue: string;
  dead_letter_queue?: string;
}[];
for (const consumer of consumers)
  if (euQueues.has(consumer.queue) && consumer.dead_letter_queue)
    euQueues.add(consumer.dead_letter_queue);
type Route = string | { pattern: string; custom_domain?: boolean };
const routes = ((config.routes ?? []) as Route[]).map((route) =>
  typeof route === "string"
    ? { pattern: route, customDomain: false }
    : {
        pattern: route.pattern,
        customDomain: "custom_domain" in route && route.custom_domain === true,
      },
);
const plan: DeploymentPlan = {
  accountId,
  scriptName: config.name ?? "tracking-edge",
  d1: (
    config.d1_databases as { binding: string; database_name?: string; database_id?: string }[]
  ).map((d) => ({
    name: d.database_name ?? "?",
    id: d.database_id ?? "",
    jurisdiction: euBindings.has(d.binding) ? ("eu" as const) : null,
  })),
  queues: [
    ...new Set([
      ...producers.map((q) => q.queue),
      ...consumers.flatMap((q) => [q.queue, ...(q.dead_letter_queue ? [q.dead_letter_queue] : [])]),
    ]),
  ].map((name) => ({ name, jurisdiction: euQueues.has(name) ? ("eu" as const) : null })),
  routes,
  deployer: (vars.CERTIFICATE_DEPLOYER ?? "edge-pull") as DeploymentPlan["deployer"],
  saasZoneId: env("CLOUDFLARE_ZONE_ID") ?? null,
  endpoints: [
    vars.V2_ENDPOINT_US,
    vars.V2_ENDPOINT_EU,
    vars.STANDARD_ENDPOINT_US,
    vars.STANDARD_ENDPOINT_EU,
  ].filter((name): name is string => Boolean(name)),
};
const baseUrl = env("CLOUDFLARE_API_BASE_URL");
const checks = await checkDeployment(plan, { token, ...(baseUrl ? { baseUrl } : {}) });
console.log(`deploy:check for ${plan.scriptName} (CERTIFICATE_DEPLOYER=${plan.deployer})`);
console.log(formatChecks(checks));
const failed = checks.filter((c) => !c.ok).length;
console.log(
  failed ? `\n${failed} of ${checks.length} checks failed.` : `\nAll ${checks.length} checks pass.`,
);
process.exit(failed ? 1 : 0);
