// /api/v1/api-keys: customers make, relabel, narrow and revoke their own keys, as with
// SparkPost's API Keys API (label, grants, a key shown once, short_key to tell keys apart).
// A key can give only grants it holds and addresses it may be used from, and manage only keys
// that can do no more, from no more places, so no key can make or tamper with a stronger one. A key cannot revoke itself or change
// its own grants: revoking goes through another key, which keeps an account from locking itself
// out by mistake. With X-MSYS-SUBACCOUNT (or a subaccount's own key) the calls are about that
// subaccount's keys; a primary key without it sees every key of the account.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { canonicalRange, isRange, maxRanges, rangesWithin } from "../../accounts/address-ranges";
import { generateApiKey } from "../../accounts/api-keys";
import {
  type Grant,
  grantNames,
  holds,
  normalizeGrants,
  primaryOnlyGrants,
  sparkPostOnlyGrants,
} from "../../accounts/grants";
import {
  type ApiKeyRecord,
  findApiKey,
  insertApiKey,
  listApiKeys,
  maxActiveKeys,
  revokeApiKey,
  updateApiKey,
} from "../../accounts/repository";
import type { AppEnv, AuthContext } from "../context";
import { ApiError, forbidden, invalidField, notFound, sparkPostCodes } from "../errors";
import { errorResponses, jsonBody, jsonContent, resultsOf } from "../schemas";
import { noteIgnored, validationHook } from "../validation";

export const apiKeyFields = {
  label: z.string().trim().min(1).max(1024).openapi({ example: "Production mailer" }),
  grants: z
    .array(z.enum([...grantNames, ...sparkPostOnlyGrants]))
    .min(1)
    .max(grantNames.length + sparkPostOnlyGrants.length)
    .openapi({
      description:
        "What the key may do. A resource's change grant (…/manage, webhooks/modify) includes its view grant. SparkPost's grants for what this service does not do (smtp/inject, templates/modify, …) are accepted and ignored (named in X-Ignored-Fields).",
      example: ["tracking_domains/view", "tracking_links/create"],
    }),
  valid_ips: z
    .array(
      z.string().max(64).refine(isRange, {
        message: "must be an IPv4 or IPv6 address or CIDR range, such as 203.0.113.0/24",
      }),
    )
    .max(maxRanges)
    .openapi({
      description:
        "Addresses the key may be used from (CIDR ranges; a bare address is one host). Empty: anywhere.",
      example: ["203.0.113.0/24", "2001:db8::/48"],
    }),
};

const ApiKeySchema = z
  .object({
    id: z.string(),
    label: z.string(),
    short_key: z.string().openapi({ description: "The key's first characters" }),
    grants: z.array(z.enum(grantNames)),
    valid_ips: z.array(z.string()),
    subaccount_id: z
      .number()
      .int()
      .optional()
      .openapi({ description: "Present on a subaccount's key" }),
    created_at: z.string(),
    last_used_at: z
      .string()
      .nullable()
      .openapi({ description: "When the key was last used, to within an hour; null if never" }),
  })
  .openapi("ApiKey");

const IdParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const routes = {
  create: createRoute({
    method: "post",
    path: "/",
    summary: "Create an API key",
    description:
      "The key itself is in this answer only. With X-MSYS-SUBACCOUNT, the key belongs to that subaccount. " +
      "Without valid_ips, the key may be used from wherever the calling key may.",
    request: {
      body: jsonBody(
        z
          .object({
            label: apiKeyFields.label,
            grants: apiKeyFields.grants,
            valid_ips: apiKeyFields.valid_ips.optional(),
          })
          .openapi("CreateApiKey"),
      ),
    },
    responses: {
      200: jsonContent(
        resultsOf(
          ApiKeySchema.extend({
            key: z.string().openapi({ description: "The new API key; shown only this once" }),
          }),
        ),
        "The new key",
      ),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
  }),
  list: createRoute({
    method: "get",
    path: "/",
    summary: "List API keys",
    responses: {
      200: jsonContent(resultsOf(z.array(ApiKeySchema)), "The keys that are not revoked"),
      ...errorResponses(400, 401, 403),
    },
  }),
  retrieve: createRoute({
    method: "get",
    path: "/{id}",
    summary: "Retrieve an API key",
    request: { params: IdParam },
    responses: {
      200: jsonContent(resultsOf(ApiKeySchema), "The key"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  update: createRoute({
    method: "put",
    path: "/{id}",
    summary: "Change an API key's label or grants",
    request: {
      params: IdParam,
      body: jsonBody(
        z
          .object({
            label: apiKeyFields.label.optional(),
            grants: apiKeyFields.grants.optional(),
            valid_ips: apiKeyFields.valid_ips.optional(),
          })
          .openapi("UpdateApiKey"),
      ),
    },
    responses: {
      200: jsonContent(resultsOf(ApiKeySchema), "The changed key"),
      ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422),
    },
  }),
  revoke: createRoute({
    method: "delete",
    path: "/{id}",
    summary: "Revoke an API key",
    description: "The key stops working at once. A key cannot revoke itself: use another.",
    request: { params: IdParam },
    responses: { 204: { description: "Revoked" }, ...errorResponses(400, 401, 403, 404, 409) },
  }),
};

const present = (key: ApiKeyRecord) => ({
  id: key.publicId,
  label: key.label,
  short_key: key.shortKey,
  grants: key.grants,
  valid_ips: key.validIps,
  ...(key.subaccountId === null ? {} : { subaccount_id: key.subaccountId }),
  created_at: key.createdAt,
  last_used_at: key.lastUsedAt,
});

/**
 * The grants of ours among those asked for; SparkPost's others are ignored and named in the
 * answer (X-Ignored-Fields). Asking for none of ours is a 422.
 */
export function ourGrants(
  c: Context<AppEnv>,
  asked: readonly (Grant | (typeof sparkPostOnlyGrants)[number])[],
  param = "grants",
): Grant[] {
  const ours = asked.filter((g): g is Grant => (grantNames as readonly string[]).includes(g));
  const ignored = asked.filter((g) => !ours.includes(g as Grant));
  if (ignored.length > 0)
    noteIgnored(
      c,
      ignored.map((g) => `${param}: ${g}`),
    );
  if (ours.length === 0) {
    throw invalidField(
      param,
      `${param} holds none of this service's grants (${grantNames.join(", ")}); ${ignored.join(", ")} are SparkPost's for what this service does not do`,
      asked,
    );
  }
  return ours;
}

/** The grants a key may give: only ones it holds, and none a subaccount's key cannot hold. */
export function checkGiven(
  auth: AuthContext,
  forSubaccount: boolean,
  grants: readonly Grant[],
  param = "grants",
): Grant[] {
  const missing = grants.filter((g) => !holds(auth.grants, g));
  if (missing.length > 0) {
    throw forbidden(
      `This API key cannot give ${missing.join(", ")}: a key gives only grants it holds.`,
      param,
    );
  }
  const primaryOnly = grants.filter((g) => primaryOnlyGrants.includes(g));
  if (forSubaccount && primaryOnly.length > 0) {
    throw invalidField(
      param,
      `A subaccount's key cannot hold ${primaryOnly.join(", ")}: subaccounts are managed from the primary account.`,
      primaryOnly,
    );
  }
  return normalizeGrants(grants);
}

/**
 * Where a key the caller gives may be used from, canonical: only from addresses the caller may
 * use itself (a key limited to some addresses cannot make one that works from anywhere).
 */
export function checkReach(
  auth: AuthContext,
  given: readonly string[],
  param = "valid_ips",
): string[] {
  const canonical = [...new Set(given.map((r) => canonicalRange(r) ?? r))];
  if (!rangesWithin(canonical, auth.validIps)) {
    throw forbidden(
      `This API key may be used only from ${auth.validIps.join(", ")}, and cannot give a key that works from ${canonical.length === 0 ? "anywhere" : "elsewhere"}.`,
      param,
    );
  }
  return canonical;
}

/**
 * A key of the caller's scope that the caller may manage: it holds nothing the caller lacks and
 * works from no address the caller cannot use.
 */
async function manageable(env: Env, auth: AuthContext, id: string): Promise<ApiKeyRecord> {
  const key = await findApiKey(env.DB, auth, id);
  if (!key) throw notFound(`There is no API key ${id} in this account.`);
  const beyond = key.grants.filter((g) => !holds(auth.grants, g));
  if (beyond.length > 0) {
    throw forbidden(
      `API key ${id} holds ${beyond.join(", ")}, which this key does not; manage it with a key that holds at least as much.`,
    );
  }
  if (!rangesWithin(key.validIps, auth.validIps)) {
    throw forbidden(
      `API key ${id} may be used from addresses this key may not; manage it with a key that may be used from at least as many.`,
    );
  }
  return key;
}

const own = (auth: AuthContext, key: ApiKeyRecord, what: string) => {
  if (key.keyId === auth.keyId) {
    throw new ApiError(409, {
      message: "resource conflict",
      code: sparkPostCodes.conflict,
      description: `This is the key making the request; ${what} with another key, so that the account is never left without one that works.`,
    });
  }
};

export function apiKeyRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.create, async (c) => {
    const auth = c.get("auth");
    const body = c.req.valid("json");
    // The subaccount in scope (0: the primary account itself) is the key's owner.
    const subaccountId =
      auth.subaccountId === null || auth.subaccountId === 0 ? null : auth.subaccountId;
    const grants = checkGiven(auth, subaccountId !== null, ourGrants(c, body.grants));
    const validIps = checkReach(auth, body.valid_ips ?? auth.validIps);
    const made = await generateApiKey();
    const key = await insertApiKey(c.env.DB, {
      accountId: auth.accountId,
      subaccountId,
      publicId: made.publicId,
      label: body.label,
      shortKey: made.shortKey,
      hash: made.hash,
      grants,
      validIps,
    });
    if (!key) {
      throw forbidden(
        `This account already holds ${maxActiveKeys} API keys; revoke one it no longer uses (see last_used_at) first.`,
      );
    }
    return c.json({ results: { ...present(key), key: made.key } }, 200);
  });

  app.openapi(routes.list, async (c) => {
    const keys = await listApiKeys(c.env.DB, c.get("auth"));
    return c.json({ results: keys.map(present) }, 200);
  });

  app.openapi(routes.retrieve, async (c) => {
    const { id } = c.req.valid("param");
    const key = await findApiKey(c.env.DB, c.get("auth"), id);
    if (!key) throw notFound(`There is no API key ${id} in this account.`);
    return c.json({ results: present(key) }, 200);
  });

  app.openapi(routes.update, async (c) => {
    const auth = c.get("auth");
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const key = await manageable(c.env, auth, id);
    let grants: Grant[] | undefined;
    if (body.grants !== undefined) {
      own(auth, key, "change its grants");
      grants = checkGiven(auth, key.subaccountId !== null, ourGrants(c, body.grants));
    }
    let validIps: string[] | undefined;
    if (body.valid_ips !== undefined) {
      own(auth, key, "change where it may be used from");
      validIps = checkReach(auth, body.valid_ips);
    }
    const changed = await updateApiKey(c.env.DB, auth, id, {
      ...(body.label === undefined ? {} : { label: body.label }),
      ...(grants === undefined ? {} : { grants }),
      ...(validIps === undefined ? {} : { validIps }),
    });
    if (!changed) throw notFound(`There is no API key ${id} in this account.`);
    return c.json({ results: present(changed) }, 200);
  });

  app.openapi(routes.revoke, async (c) => {
    const auth = c.get("auth");
    const { id } = c.req.valid("param");
    own(auth, await manageable(c.env, auth, id), "revoke it");
    if (!(await revokeApiKey(c.env.DB, auth, id, new Date()))) {
      throw notFound(`There is no API key ${id} in this account.`);
    }
    return c.body(null, 204);
  });

  return app;
}
