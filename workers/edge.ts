// The Worker's entry points, routing only. Requests for an API host go to the API app; on every
// other host (a tracking domain): clicks, opens, and the ACME HTTP-01 path. The Cron Trigger runs
// the renewal sweep, the watch over self-managed domains, webhook deliveries and pruning; the
// Queue consumer writes engagement events.
import { pruneRevokedKeys, revokedKeyRetentionMs } from "../src/accounts/repository";
import { createApiApp } from "../src/api/app";
import { misconfigured } from "../src/api/errors";
import { type Config, ConfigError, loadConfig } from "../src/config";
import { changeFeedRetentionMs, pruneChanges } from "../src/deploy/edge-pull";
import { answerHttpsProbe, httpsProbePrefix } from "../src/domains/https-probe";
import { watchSelfManaged } from "../src/domains/proxy-probe";
import { deploymentNameCovering } from "../src/domains/reserved-names";
import { answerHttp01, challengePrefix } from "../src/issuance/http01-responder";
import { sweepDueCertificates } from "../src/issuance/sweep";
import {
  consumeEngagementBatch,
  engagementStores,
  pruneExpiredEngagement,
} from "../src/tracking/events";
import { clickPrefix, handleTrackingLink, openPrefix, signingRing } from "../src/tracking/handlers";
import { cachedHolder, lookUpHolder } from "../src/tracking/holders";
import type { SigningRing } from "../src/tracking/link-token";
import { serveUi, uiPrefix } from "../src/ui/serve";
import { relayedRequest } from "../src/util/edge-relay";
import { type RequestTarget, requestTarget } from "../src/util/request-target";
import {
  deliverChangesOf,
  deliverDueWebhooks,
  webhookHistoryRetentionMs,
} from "../src/webhooks/delivery";
import { pruneWebhookHistory } from "../src/webhooks/repository";

export { AcmeAccount } from "../durable-objects/acme-account";
export { DomainCertificate } from "../durable-objects/domain-certificate";

const api = createApiApp();

/**
 * The proof a self-managed domain's verification looks for (src/domains/https-probe.ts), given
 * only on a host that is somebody's tracking domain and none of our own names: a name nobody
 * registered has nothing to prove.
 */
async function answerProbe(
  target: RequestTarget,
  env: Env,
  config: Config,
  ctx: ExecutionContext,
): Promise<Response> {
  let ring: SigningRing;
  try {
    ring = signingRing(env.LINK_SIGNING_KEYS);
  } catch {
    return new Response("Service unavailable\n", { status: 503, headers: { "retry-after": "60" } });
  }
  const now = Date.now();
  const holder =
    cachedHolder(env.DB, target.host, now, config.linkHolderCacheMs, ctx) ??
    (await lookUpHolder(env.DB, target.host, now));
  if (holder === null || deploymentNameCovering(target.host, config)) return notFound();
  return answerHttpsProbe(target, ring);
}

const notFound = () =>
  new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } });

export default {
  fetch(received, env, ctx): Response | Promise<Response> {
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return misconfigured(error);
      throw error;
    }
    // Relayed by our own TLS edge: the tracking host and the client as the edge saw them.
    const relayed = relayedRequest(received, env.EDGE_PULL_TOKEN);
    const request = relayed ?? received;
    const target = requestTarget(request.url);
    const path = target.path;
    if (config.apiHostnames.has(target.host)) {
      // The edge relays tracking domains only; the API is reached directly.
      if (relayed) return new Response("Misdirected request\n", { status: 421 });
      if (path === "/" || path.startsWith(uiPrefix))
        return serveUi(request, new URL(target.href), env);
      return api.fetch(request, env, ctx);
    }
    if (path.startsWith(clickPrefix))
      return handleTrackingLink(request, target, env, config, ctx, "click");
    if (path.startsWith(openPrefix))
      return handleTrackingLink(request, target, env, config, ctx, "open");
    if (path.startsWith(challengePrefix)) return answerHttp01(request, target, env, config);
    if (path.startsWith(httpsProbePrefix)) return answerProbe(target, env, config, ctx);
    return notFound();
  },

  async scheduled(controller, env): Promise<void> {
    const now = new Date(controller.scheduledTime);
    // Independent chores: one failing does not keep the others from running this tick.
    const outcomes: PromiseSettledResult<unknown>[] = await Promise.allSettled([
      sweepDueCertificates(env, now),
      watchSelfManaged(env, now),
      pruneChanges(env.DB, new Date(now.getTime() - changeFeedRetentionMs)),
      pruneWebhookHistory(env.DB, new Date(now.getTime() - webhookHistoryRetentionMs)),
      pruneRevokedKeys(env.DB, new Date(now.getTime() - revokedKeyRetentionMs)),
      pruneExpiredEngagement(env, now),
    ]);
    // Last, so that what the sweep and the watch just changed goes out in this tick.
    outcomes.push(...(await Promise.allSettled([deliverDueWebhooks(env, new Date())])));
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
  },

  async queue(batch, env, ctx): Promise<void> {
    const accounts = await consumeEngagementBatch(
      batch,
      engagementStores(env),
      loadConfig(env).limits.engagementEventsPerNetworkPerMinute,
    );
    // Webhooks that asked for clicks and opens: what this batch wrote goes out now.
    if (accounts.length > 0) ctx.waitUntil(deliverChangesOf(env, { accounts }));
  },
} satisfies ExportedHandler<Env>;
