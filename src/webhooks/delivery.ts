// Delivering webhook events: each webhook sends the events after its cursor, in order, up to 100
// at a time, as one signed POST. A batch that fails is sent again, the same id and the same
// events, after 30 s, 1 min, 2 min, … at most an hour apart, and given up after a day (recorded
// in its attempts). Runs right after whatever changed a domain's row (its certificate object, a
// verify call, the Cron tick's sweep and watch), so an endpoint hears within seconds, and from
// every Cron tick for the retries. A lease in D1 keeps two deliverers from sending one batch at
// once, and a batch is recorded before its first POST: after a deliverer that died mid-POST (or
// whose lease ran out), the next sends the same id and events, which an endpoint can drop.
import { loadConfig } from "../config";
import { createDohResolver, type DnsResolver } from "../dns/doh";
import { parseKeyRing, unwrapKey, wrapKey } from "../pki/key-wrap";
import { euEngagementDetails } from "../tracking/events";
import { forEachLimited } from "../util/concurrency";
import { base64, fromUtf8, utf8 } from "../util/encoding";
import { logInfo, logProblem, messageOf } from "../util/log";
import { type EngagementDetails, payloadOf, type WebhookEvent } from "./events";
import {
  type AttemptRecord,
  claimWebhook,
  dueWebhooks,
  eventsAfterCursor,
  finishBatch,
  openBatch,
  retryBatch,
  type Webhook,
  type WebhookScope,
} from "./repository";
import { signDelivery } from "./signing";
import { targetAddressProblem } from "./target";

/** Events and attempts are kept this long (a failing batch is given up after a day). */
export const webhookHistoryRetentionMs = 7 * 86_400_000;

export const deliveryLimits = {
  eventsPerBatch: 100,
  timeoutMs: 10_000,
  /** Long enough for the slowest POST and the writes around it. */
  leaseMs: 60_000,
  giveUpAfterMs: 86_400_000,
  webhooksPerRun: 50,
  /** Batches one webhook may send in a row in one run while more are waiting (clicks). */
  batchesPerRun: 10,
  concurrency: 5,
  responseBodyBytes: 1024,
} as const;

/** The wait before the next try after `attempts` failed ones: 30 s doubling, at most an hour. */
export const retryDelayMs = (attempts: number): number =>
  Math.min(30_000 * 2 ** (attempts - 1), 3_600_000);

/** What a webhook keeps sealed: its signing secret and the credentials it sends. */
export interface WebhookSecrets {
  signingSecret: string;
  /** The secret a rotation replaced, still signing (beside the new one) until `previousUntil`. */
  previousSigningSecret?: string;
  previousUntil?: string;
  authToken?: string;
  basic?: { username: string; password: string };
}

const secretsContext = (webhookId: string) => `webhook:${webhookId}`;

export async function sealSecrets(
  env: Env,
  webhookId: string,
  secrets: WebhookSecrets,
): Promise<string> {
  const ring = await parseKeyRing(env.KEY_ENCRYPTION_KEYS);
  return wrapKey(ring, utf8(JSON.stringify(secrets)), secretsContext(webhookId));
}

export async function openSecrets(env: Env, hook: Webhook): Promise<WebhookSecrets> {
  const ring = await parseKeyRing(env.KEY_ENCRYPTION_KEYS);
  return JSON.parse(fromUtf8(await unwrapKey(ring, hook.secrets, secretsContext(hook.id))));
}

/** The secrets that sign a delivery at `at`: the current one, and a replaced one still honoured. */
export function signingSecretsAt(secrets: WebhookSecrets, at: Date): string[] {
  const { signingSecret, previousSigningSecret, previousUntil } = secrets;
  return previousSigningSecret && previousUntil && Date.parse(previousUntil) > at.getTime()
    ? [signingSecret, previousSigningSecret]
    : [signingSecret];
}

export interface PostResult {
  ok: boolean;
  /** The endpoint's HTTP status; null when it did not answer. */
  status: number | null;
  /** Why it failed, in words; null when it succeeded. */
  failure: string | null;
  /** The start of the endpoint's answer (for POST /webhooks/{id}/validate). */
  body: string;
}

/**
 * Where deliveries may go, from the configuration: with insecure targets refused (production),
 * a resolver to check each target's addresses before its POST.
 */
export function deliveryGuard(env: Env): DnsResolver | null {
  const config = loadConfig(env);
  return config.webhookAllowInsecureTargets ? null : createDohResolver({ url: config.dohUrl });
}

/**
 * One signed POST of `events` as batch `batchId`; never throws. With `guard`, a target whose
 * host now resolves to an address that is not public gets no POST, and the failure says why.
 */
export async function postEvents(
  target: string,
  secrets: WebhookSecrets,
  batchId: string,
  events: readonly WebhookEvent[],
  at: Date,
  guard: DnsResolver | null = null,
): Promise<PostResult> {
  const refused = guard ? await targetAddressProblem(target, guard) : null;
  if (refused) return { ok: false, status: null, failure: refused, body: "" };
  const body = JSON.stringify(events.map(payloadOf));
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "tracking-edge-webhooks/1",
    // SparkPost's batch header, for endpoints written against SparkPost.
    "x-messagesystems-batch-id": batchId,
    ...(await signDelivery(signingSecretsAt(secrets, at), batchId, at, body)),
  };
  if (secrets.authToken) headers["x-messagesystems-webhook-token"] = secrets.authToken;
  if (secrets.basic)
    headers.authorization = `Basic ${base64(utf8(`${secrets.basic.username}:${secrets.basic.password}`))}`;
  let response: Response;
  try {
    response = await fetch(target, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(deliveryLimits.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === "TimeoutError";
    return {
      ok: false,
      status: null,
      failure: timedOut
        ? `no answer within ${deliveryLimits.timeoutMs / 1000} s`
        : `could not connect: ${messageOf(error)}`,
      body: "",
    };
  }
  const start = await responseStart(response);
  if (response.status >= 200 && response.status < 300)
    return { ok: true, status: response.status, failure: null, body: start };
  const failure =
    response.status >= 300 && response.status < 400
      ? `HTTP ${response.status}: redirects are not followed; point the webhook at ${response.headers.get("location") ?? "the final URL"}`
      : `HTTP ${response.status}${start ? `: ${start.slice(0, 200)}` : ""}`;
  return { ok: false, status: response.status, failure, body: start };
}

/** The first kilobyte of an answer, as text; the rest is not read. */
async function responseStart(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < deliveryLimits.responseBodyBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    // An answer cut short says as much as we have read.
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(total, deliveryLimits.responseBodyBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.length;
  }
  return new TextDecoder().decode(bytes).trim();
}

export interface DeliveryReport {
  webhooks: number;
  delivered: number;
  failed: number;
  dropped: number;
}

/** Delivers what is due: every account's webhooks, or only those of the accounts in `scope`. */
export async function deliverDueWebhooks(
  env: Env,
  now: Date,
  scope: WebhookScope = {},
): Promise<DeliveryReport> {
  const due = await dueWebhooks(env.DB, now.toISOString(), deliveryLimits.webhooksPerRun, scope);
  const report: DeliveryReport = { webhooks: due.length, delivered: 0, failed: 0, dropped: 0 };
  await forEachLimited(due, deliveryLimits.concurrency, async (id) => {
    try {
      // Batch after batch while a full one went out and more wait, up to batchesPerRun.
      for (let sent = 0; sent < deliveryLimits.batchesPerRun; sent++) {
        const step = await deliverNext(env, id, now);
        if (step.outcome) report[step.outcome]++;
        if (!step.more || step.outcome === "failed" || step.outcome === "dropped") break;
      }
    } catch (error) {
      report.failed++;
      logProblem("webhook_delivery_failed", { webhook: id, message: messageOf(error) });
    }
  });
  if (due.length > 0) logInfo("webhook_delivery", { ...report });
  return report;
}

/**
 * Right after a domain's row changed, or clicks and opens were written: delivers what those
 * accounts' webhooks have due, so an endpoint hears within seconds rather than at the next Cron
 * tick. Never rejects: what fails here is the Cron's to retry.
 */
export async function deliverChangesOf(env: Env, scope: WebhookScope): Promise<void> {
  try {
    await deliverDueWebhooks(env, new Date(), scope);
  } catch (error) {
    logProblem("webhook_delivery_failed", { ...scope, message: messageOf(error) });
  }
}

interface Step {
  /** What became of a batch; null when nothing was sent (nothing wanted, or held elsewhere). */
  outcome: "delivered" | "failed" | "dropped" | null;
  /** A full batch's worth was read: more may be waiting. */
  more: boolean;
}

/**
 * An EU domain's click or open is only referenced in webhook_events (its id): its fields are
 * read from DB_EU here, as it is sent. One pruned there since is left out of the batch.
 */
async function withEuEngagement(eu: D1Database, events: WebhookEvent[]): Promise<WebhookEvent[]> {
  const ids = events.flatMap((e) => (e.engagement?.region === "eu" ? [e.engagement.event_id] : []));
  if (ids.length === 0) return events;
  const stored = await euEngagementDetails(eu, ids);
  return events.flatMap((e) => {
    if (e.engagement?.region !== "eu") return [e];
    const found = stored.get(e.engagement.event_id);
    if (!found) return [];
    const engagement: EngagementDetails = {
      event_id: found.id,
      occurred_at: found.occurredAt,
      message_id: found.messageId,
      recipient_id: found.recipientId,
      link_name: found.linkName,
      target_url: found.targetUrl,
      user_agent: found.userAgent,
      ip_prefix: found.ipPrefix,
      secure: found.secure ? 1 : 0,
    };
    return [{ ...e, engagement }];
  });
}

/** One batch of one webhook, if nobody else is sending it. */
async function deliverNext(env: Env, id: string, now: Date): Promise<Step> {
  const leaseUntil = new Date(now.getTime() + deliveryLimits.leaseMs).toISOString();
  const hook = await claimWebhook(env.DB, id, now.toISOString(), leaseUntil);
  if (!hook) return { outcome: null, more: false };
  const read = await eventsAfterCursor(
    env.DB,
    hook,
    hook.batchLastEventId,
    deliveryLimits.eventsPerBatch,
  );
  // A full batch, or a retried one (bounded by what it first held): more may be waiting.
  const more = read.length === deliveryLimits.eventsPerBatch || hook.batchLastEventId !== null;
  const last = read.at(-1);
  const lastEventId = hook.batchLastEventId ?? last?.id ?? hook.cursor;
  const events = await withEuEngagement(
    env.DB_EU,
    read.filter((e) => hook.events.includes(e.type)),
  );
  if (events.length === 0) {
    // Nothing it wants (or a batch whose events were pruned): move on without a POST.
    await finishBatch(env.DB, hook, leaseUntil, lastEventId, null, now);
    return { outcome: null, more };
  }
  const batchId = hook.batchId ?? crypto.randomUUID();
  if (!hook.batchId && !(await openBatch(env.DB, hook, leaseUntil, batchId, lastEventId)))
    return { outcome: null, more: false };
  const attempt = hook.batchAttempts + 1;
  const result = await postEvents(
    hook.target,
    await openSecrets(env, hook),
    batchId,
    events,
    now,
    deliveryGuard(env),
  );
  const record: AttemptRecord = {
    batchId,
    events: events.length,
    attempt,
    outcome: "delivered",
    responseCode: result.status,
    failure: result.failure,
    attemptedAt: new Date().toISOString(),
  };
  if (result.ok) {
    await finishBatch(env.DB, hook, leaseUntil, lastEventId, record, now);
    return { outcome: "delivered", more };
  }
  const failingSince = Date.parse(hook.batchFirstAttemptAt ?? record.attemptedAt);
  if (now.getTime() - failingSince >= deliveryLimits.giveUpAfterMs) {
    await finishBatch(
      env.DB,
      hook,
      leaseUntil,
      lastEventId,
      { ...record, outcome: "dropped" },
      now,
    );
    logProblem("webhook_batch_dropped", { webhook: hook.id, batchId, failure: result.failure });
    return { outcome: "dropped", more };
  }
  const retryAt = new Date(now.getTime() + retryDelayMs(attempt)).toISOString();
  await retryBatch(
    env.DB,
    hook,
    leaseUntil,
    lastEventId,
    { ...record, outcome: "failed" },
    retryAt,
  );
  logProblem("webhook_post_failed", {
    webhook: hook.id,
    batchId,
    attempt,
    failure: result.failure,
  });
  return { outcome: "failed", more };
}
