// /api/v1/webhooks: endpoints an account wants told when its tracking domains' certificates
// change. SparkPost's Webhooks API where it fits (name, target, events, active, auth_type basic
// with auth_credentials, auth_token sent as X-MessageSystems-Webhook-Token, validate,
// batch-status); every delivery is also signed the Standard Webhooks way, with a secret shown
// once. A webhook made with a subaccount in scope hears only that subaccount's domains.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { loadConfig } from "../../config";
import { base64Url } from "../../util/encoding";
import {
  deliveryGuard,
  openSecrets,
  postEvents,
  sealSecrets,
  type WebhookSecrets,
} from "../../webhooks/delivery";
import {
  certificateEventTypes,
  eventDocumentation,
  payloadOf,
  sampleEvent,
  sparkPostOnlyEventTypes,
  type WebhookEventType,
  webhookEventTypes,
} from "../../webhooks/events";
import {
  type AuthType,
  deleteWebhook,
  getWebhook,
  insertWebhook,
  listAttempts,
  listWebhooks,
  updateWebhook,
  type Webhook,
  type WebhookChange,
} from "../../webhooks/repository";
import { newSigningSecret } from "../../webhooks/signing";
import { checkTarget, maxTargetLength, targetAddressProblem } from "../../webhooks/target";
import type { AppEnv, AuthContext } from "../context";
import { forbidden, invalidField, notFound } from "../errors";
import { errorResponses, jsonBody, jsonContent, pageLimit, resultsOf } from "../schemas";
import { noteIgnored, validationHook } from "../validation";

const WebhookSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    target: z.string(),
    events: z.array(z.enum(webhookEventTypes)),
    active: z.boolean(),
    auth_type: z.enum(["none", "basic"]),
    auth_token_set: z.boolean().openapi({ description: "Whether an auth_token is sent" }),
    subaccount_id: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "null: every domain of the account" }),
    last_successful: z.string().nullable(),
    last_failure: z.string().nullable(),
    last_failure_reason: z.string().nullable(),
    retrying: z
      .object({ batch_id: z.string(), attempts: z.number().int(), next_attempt_at: z.string() })
      .nullable()
      .openapi({ description: "The batch that failed and will be sent again" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Webhook");

const CreatedWebhookSchema = WebhookSchema.extend({
  signing_secret: z.string().openapi({
    description:
      "Verifies the webhook-signature header (Standard Webhooks). Shown only now: keep it.",
  }),
}).openapi("CreatedWebhook");

const Credentials = z.object({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(256),
});

const fields = {
  name: z.string().trim().min(1).max(1024),
  target: z.string().max(maxTargetLength).openapi({ example: "https://example.com/hooks/tls" }),
  events: z
    .array(z.enum([...webhookEventTypes, ...sparkPostOnlyEventTypes]))
    .min(1)
    .max(webhookEventTypes.length + sparkPostOnlyEventTypes.length)
    .openapi({
      description:
        "Default: the certificate events (tls_status_change, tls_certificate_renewed, tls_error_change, https_check_change); click and open only when asked for. SparkPost's types for what this service never sees (delivery, bounce, …) are accepted and ignored (named in X-Ignored-Fields).",
    }),
  active: z.boolean(),
  auth_type: z.enum(["none", "basic"]),
  auth_credentials: Credentials.openapi({ description: "For auth_type basic" }),
  auth_token: z
    .string()
    .min(1)
    .max(256)
    .nullable()
    .openapi({ description: "Sent as X-MessageSystems-Webhook-Token; null stops sending it" }),
};

/** How long a replaced signing secret may keep signing: a week. */
const maxPreviousSecretSeconds = 7 * 24 * 3600;

const IdParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const AttemptSchema = z
  .object({
    batch_id: z.string(),
    ts: z.string(),
    attempts: z.number().int(),
    events: z.number().int(),
    outcome: z.enum(["delivered", "failed", "dropped"]),
    response_code: z.number().int().nullable(),
    failure_code: z.string().nullable(),
  })
  .openapi("WebhookBatchAttempt");

const routes = {
  documentation: createRoute({
    method: "get",
    path: "/events/documentation",
    summary: "The event types a webhook can ask for",
    responses: {
      200: jsonContent(
        resultsOf(
          z.record(
            z.string(),
            z.object({
              display_name: z.string(),
              description: z.string(),
              events: z.record(
                z.string(),
                z.object({
                  display_name: z.string(),
                  description: z.string(),
                  default: z
                    .boolean()
                    .openapi({ description: "Sent when a webhook names no events" }),
                  event: z.record(
                    z.string(),
                    z.object({ description: z.string(), sampleValue: z.unknown() }),
                  ),
                }),
              ),
            }),
          ),
        ).openapi({
          description:
            "SparkPost's shape: event classes (tracking_domain_event, track_event), their event types, and each type's fields with a sample value",
        }),
        "Event types",
      ),
      ...errorResponses(400, 401, 403),
    },
  }),
  samples: createRoute({
    method: "get",
    path: "/events/samples",
    summary: "A sample delivery body: one made-up event of each type asked for",
    request: {
      query: z.object({
        events: z
          .string()
          .max(512)
          .optional()
          .openapi({ description: "Comma-separated event types; default: all" }),
      }),
    },
    responses: {
      200: jsonContent(
        z.array(z.object({ msys: z.record(z.string(), z.unknown()) })),
        "What an endpoint would receive (a JSON array, as deliveries are)",
      ),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  create: createRoute({
    method: "post",
    path: "/",
    summary: "Create a webhook",
    request: {
      body: jsonBody(
        z
          .object({
            name: fields.name,
            target: fields.target,
            events: fields.events.optional(),
            active: fields.active.optional(),
            auth_type: fields.auth_type.optional(),
            auth_credentials: fields.auth_credentials.optional(),
            auth_token: fields.auth_token.optional(),
          })
          .openapi("CreateWebhook"),
      ),
    },
    responses: {
      200: jsonContent(resultsOf(CreatedWebhookSchema), "The new webhook and its signing secret"),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
  }),
  list: createRoute({
    method: "get",
    path: "/",
    summary: "List webhooks",
    responses: {
      200: jsonContent(resultsOf(z.array(WebhookSchema)), "The webhooks"),
      ...errorResponses(400, 401, 403),
    },
  }),
  retrieve: createRoute({
    method: "get",
    path: "/{id}",
    summary: "Retrieve a webhook",
    request: { params: IdParam },
    responses: {
      200: jsonContent(resultsOf(WebhookSchema), "The webhook"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  update: createRoute({
    method: "put",
    path: "/{id}",
    summary: "Update a webhook",
    description:
      "Turning a webhook on again, or pointing it elsewhere, starts it after the latest event: " +
      "it is not sent what happened meanwhile.",
    request: {
      params: IdParam,
      body: jsonBody(
        z
          .object({
            name: fields.name.optional(),
            target: fields.target.optional(),
            events: fields.events.optional(),
            active: fields.active.optional(),
            auth_type: fields.auth_type.optional(),
            auth_credentials: fields.auth_credentials.optional(),
            auth_token: fields.auth_token.optional(),
          })
          .openapi("UpdateWebhook"),
      ),
    },
    responses: {
      200: jsonContent(resultsOf(WebhookSchema), "The updated webhook"),
      ...errorResponses(400, 401, 403, 404, 413, 415, 422),
    },
  }),
  delete: createRoute({
    method: "delete",
    path: "/{id}",
    summary: "Delete a webhook",
    request: { params: IdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  rotateSecret: createRoute({
    method: "post",
    path: "/{id}/signing-secret",
    summary: "Replace the webhook's signing secret",
    description:
      "The new secret is shown only in this answer. The old one stops signing at once, or, with " +
      "previous_valid_for, keeps signing beside the new one for that many seconds (each delivery " +
      "then carries both signatures), so the endpoint can switch secrets without refusing a delivery.",
    request: {
      params: IdParam,
      body: {
        content: {
          "application/json": {
            schema: z
              .object({
                previous_valid_for: z
                  .number()
                  .int()
                  .min(0)
                  .max(maxPreviousSecretSeconds)
                  .optional()
                  .openapi({
                    description: "Seconds the old secret keeps signing; 0 (default) to 604800",
                  }),
              })
              .openapi("RotateSigningSecret"),
          },
        },
        required: false,
      },
    },
    responses: {
      200: jsonContent(
        resultsOf(
          z.object({
            signing_secret: z.string(),
            previous_valid_until: z
              .string()
              .nullable()
              .openapi({ description: "Until when the old secret still signs; null: it stopped" }),
          }),
        ),
        "The new signing secret",
      ),
      ...errorResponses(400, 401, 403, 404, 415, 422),
    },
  }),
  validate: createRoute({
    method: "post",
    path: "/{id}/validate",
    summary: "Send the webhook a sample event now",
    description:
      "Signed and authenticated like a real delivery; the answer says what the endpoint replied.",
    request: { params: IdParam },
    responses: {
      200: jsonContent(
        resultsOf(
          z.object({
            msg: z.string(),
            ok: z.boolean(),
            response: z
              .object({ status: z.number().int(), body: z.string() })
              .nullable()
              .openapi({ description: "null when the endpoint did not answer" }),
          }),
        ),
        "What the endpoint answered",
      ),
      ...errorResponses(400, 401, 403, 404, 429),
    },
  }),
  batchStatus: createRoute({
    method: "get",
    path: "/{id}/batch-status",
    summary: "The webhook's recent delivery attempts, newest first",
    request: {
      params: IdParam,
      query: z.object({
        limit: pageLimit(1000),
      }),
    },
    responses: {
      200: jsonContent(resultsOf(z.array(AttemptSchema)), "Attempts"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
};

/**
 * The event types of ours among those asked for; SparkPost's others are ignored and named in the
 * answer. A webhook that would receive nothing is a 422 that lists what it can receive.
 */
function ourEvents(
  c: Context<AppEnv>,
  asked: readonly (WebhookEventType | (typeof sparkPostOnlyEventTypes)[number])[],
): WebhookEventType[] {
  const known = webhookEventTypes as readonly string[];
  const ours = asked.filter((t): t is WebhookEventType => known.includes(t));
  const ignored = asked.filter((t) => !known.includes(t));
  noteIgnored(
    c,
    ignored.map((t) => `events: ${t}`),
  );
  if (ours.length === 0) {
    throw invalidField(
      "events",
      `events holds none of the events this service sends (${webhookEventTypes.join(", ")}); ${ignored.join(", ")} are SparkPost's for what it never sees`,
      asked,
    );
  }
  return [...new Set(ours)];
}

const present = (w: Webhook): z.infer<typeof WebhookSchema> => ({
  id: w.id,
  name: w.name,
  target: w.target,
  events: w.events,
  active: w.active,
  auth_type: w.authType,
  auth_token_set: w.authTokenSet,
  subaccount_id: w.subaccountId,
  last_successful: w.lastSuccessAt,
  last_failure: w.lastFailureAt,
  last_failure_reason: w.lastFailure,
  retrying:
    w.batchId && w.batchAttempts > 0
      ? { batch_id: w.batchId, attempts: w.batchAttempts, next_attempt_at: w.nextAttemptAt }
      : null,
  created_at: w.createdAt,
  updated_at: w.updatedAt,
});

interface AuthInput {
  auth_type?: AuthType;
  auth_credentials?: { username: string; password: string };
  auth_token?: string | null;
}

/** The secrets after a create or update: credentials only with basic, and only when given. */
function withAuth(current: WebhookSecrets, type: AuthType, input: AuthInput): WebhookSecrets {
  const next: WebhookSecrets = { signingSecret: current.signingSecret };
  if (type === "basic") {
    const basic = input.auth_credentials ?? current.basic;
    if (!basic)
      throw invalidField(
        "auth_credentials",
        "auth_credentials (username and password) are required with auth_type basic",
      );
    next.basic = basic;
  } else if (input.auth_credentials) {
    throw invalidField("auth_credentials", "auth_credentials need auth_type basic");
  }
  const token = input.auth_token === undefined ? current.authToken : input.auth_token;
  if (token) next.authToken = token;
  return next;
}

export function webhookRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  const owned = async (env: Env, auth: AuthContext, id: string): Promise<Webhook> => {
    const found = await getWebhook(env.DB, auth, id);
    if (!found) throw notFound(`Webhook ${id} does not exist`);
    return found;
  };
  /** A target as given: its shape, and (where insecure targets are refused) its addresses now. */
  const target = async (env: Env, input: string): Promise<string> => {
    const checked = checkTarget(input, loadConfig(env).webhookAllowInsecureTargets);
    if (!checked.ok) throw invalidField("target", checked.reason, input);
    const guard = deliveryGuard(env);
    const refused = guard ? await targetAddressProblem(checked.url, guard) : null;
    if (refused) throw invalidField("target", refused, input);
    return checked.url;
  };

  app.openapi(routes.documentation, (c) =>
    c.json({ results: eventDocumentation(new Date()) }, 200),
  );

  app.openapi(routes.samples, (c) => {
    const asked = c.req.valid("query").events;
    const types =
      asked === undefined
        ? [...webhookEventTypes]
        : [...new Set(asked.split(",").map((t) => t.trim()))];
    const unknown = types.filter((t) => !(webhookEventTypes as readonly string[]).includes(t));
    if (unknown.length > 0)
      throw invalidField(
        "events",
        `events must name types among ${webhookEventTypes.join(", ")}; not ${unknown.join(", ")}`,
        asked,
      );
    const now = new Date();
    return c.json(
      types.map((type) => payloadOf(sampleEvent(type as WebhookEventType, now))),
      200,
    );
  });

  app.openapi(routes.create, async (c) => {
    const body = c.req.valid("json");
    const auth = c.get("auth");
    const id = base64Url(crypto.getRandomValues(new Uint8Array(12)));
    const authType = body.auth_type ?? "none";
    const secrets = withAuth({ signingSecret: newSigningSecret() }, authType, body);
    const limit = loadConfig(c.env).limits.webhooks;
    const inserted = await insertWebhook(
      c.env.DB,
      {
        id,
        accountId: auth.accountId,
        subaccountId: auth.subaccountId,
        name: body.name,
        target: await target(c.env, body.target),
        events: body.events ? ourEvents(c, body.events) : certificateEventTypes,
        active: body.active ?? true,
        authType,
        authTokenSet: secrets.authToken !== undefined,
        secrets: await sealSecrets(c.env, id, secrets),
      },
      limit,
    );
    if (!inserted) {
      throw forbidden(
        `This account has ${limit} webhooks, its limit (MAX_WEBHOOKS_PER_ACCOUNT); delete one it no longer uses first.`,
      );
    }
    const created = await owned(c.env, auth, id);
    return c.json({ results: { ...present(created), signing_secret: secrets.signingSecret } }, 200);
  });

  app.openapi(routes.list, async (c) => {
    const hooks = await listWebhooks(c.env.DB, c.get("auth"));
    return c.json({ results: hooks.map(present) }, 200);
  });

  app.openapi(routes.retrieve, async (c) =>
    c.json({ results: present(await owned(c.env, c.get("auth"), c.req.valid("param").id)) }, 200),
  );

  app.openapi(routes.update, async (c) => {
    const auth = c.get("auth");
    const current = await owned(c.env, auth, c.req.valid("param").id);
    const body = c.req.valid("json");
    const change: WebhookChange = {
      name: body.name,
      target: body.target === undefined ? undefined : await target(c.env, body.target),
      events: body.events && ourEvents(c, body.events),
      active: body.active,
      authType: body.auth_type,
    };
    if (
      body.auth_type !== undefined ||
      body.auth_credentials !== undefined ||
      body.auth_token !== undefined
    ) {
      const secrets = withAuth(
        await openSecrets(c.env, current),
        body.auth_type ?? current.authType,
        body,
      );
      change.secrets = {
        sealed: await sealSecrets(c.env, current.id, secrets),
        authTokenSet: secrets.authToken !== undefined,
      };
    }
    await updateWebhook(c.env.DB, current, change);
    return c.json({ results: present(await owned(c.env, auth, current.id)) }, 200);
  });

  app.openapi(routes.delete, async (c) => {
    const current = await owned(c.env, c.get("auth"), c.req.valid("param").id);
    await deleteWebhook(c.env.DB, current.id);
    return c.body(null, 204);
  });

  app.openapi(routes.rotateSecret, async (c) => {
    const current = await owned(c.env, c.get("auth"), c.req.valid("param").id);
    const keepFor = c.req.valid("json").previous_valid_for ?? 0;
    // The credentials stay; a secret replaced before this one stops now, whatever it was given.
    const { signingSecret: old, authToken, basic } = await openSecrets(c.env, current);
    const previousUntil =
      keepFor > 0 ? new Date(Date.now() + keepFor * 1000).toISOString() : undefined;
    const secrets: WebhookSecrets = {
      signingSecret: newSigningSecret(),
      ...(previousUntil ? { previousSigningSecret: old, previousUntil } : {}),
      ...(authToken === undefined ? {} : { authToken }),
      ...(basic === undefined ? {} : { basic }),
    };
    await updateWebhook(c.env.DB, current, {
      secrets: {
        sealed: await sealSecrets(c.env, current.id, secrets),
        authTokenSet: secrets.authToken !== undefined,
      },
    });
    return c.json(
      {
        results: {
          signing_secret: secrets.signingSecret,
          previous_valid_until: previousUntil ?? null,
        },
      },
      200,
    );
  });

  app.openapi(routes.validate, async (c) => {
    const hook = await owned(c.env, c.get("auth"), c.req.valid("param").id);
    const now = new Date();
    const result = await postEvents(
      hook.target,
      await openSecrets(c.env, hook),
      `validate-${crypto.randomUUID()}`,
      [sampleEvent(hook.events[0] ?? "tls_status_change", now)],
      now,
      deliveryGuard(c.env),
    );
    return c.json(
      {
        results: {
          ok: result.ok,
          msg: result.ok
            ? "Test POST to endpoint succeeded"
            : `Test POST to endpoint failed: ${result.failure}`,
          response: result.status === null ? null : { status: result.status, body: result.body },
        },
      },
      200,
    );
  });

  app.openapi(routes.batchStatus, async (c) => {
    const hook = await owned(c.env, c.get("auth"), c.req.valid("param").id);
    const attempts = await listAttempts(c.env.DB, hook.id, c.req.valid("query").limit ?? 100);
    return c.json(
      {
        results: attempts.map((a) => ({
          batch_id: a.batchId,
          ts: a.attemptedAt,
          attempts: a.attempt,
          events: a.events,
          outcome: a.outcome,
          response_code: a.responseCode,
          failure_code: a.failure,
        })),
      },
      200,
    );
  });

  return app;
}
