// /api/v1/subaccounts: the minimum of SparkPost's Subaccounts API that X-MSYS-SUBACCOUNT needs:
// create one (optionally with its own API key, shown once) and list them. Primary keys only.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { generateApiKey } from "../../accounts/api-keys";
import { everyGrant, grantNames, holds } from "../../accounts/grants";
import {
  createSubaccount,
  getSubaccount,
  listSubaccounts,
  maxActiveKeys,
  type Subaccount,
  type SubaccountLimits,
  subaccountStatuses,
  updateSubaccount,
} from "../../accounts/repository";
import { loadConfig } from "../../config";
import type { AppEnv, AuthContext } from "../context";
import { ApiError, forbidden, invalidField, notFound, sparkPostCodes } from "../errors";
import { errorResponses, jsonBody, jsonContent, resultsOf } from "../schemas";
import { validationHook } from "../validation";
import { apiKeyFields, checkGiven, checkReach, ourGrants } from "./api-keys";

const CreateBody = z
  .object({
    name: z.string().trim().min(1).max(1024).openapi({ example: "Acme Shoes" }),
    setup_api_key: z.boolean().optional().openapi({
      description:
        "Also make an API key for the subaccount: true when absent and key_label or key_grants is given (SparkPost's default), false otherwise",
    }),
    key_label: z.string().trim().min(1).max(1024).optional(),
    key_grants: apiKeyFields.grants.optional().openapi({
      description:
        "The new key's grants; by default every grant a subaccount's key can hold that the calling key holds. SparkPost's grants for what this service does not do are ignored.",
    }),
    key_valid_ips: apiKeyFields.valid_ips.optional().openapi({
      description: "Where the new key may be used from; by default where the calling key may",
    }),
    ip_pool: z.string().max(1024).optional().openapi({
      description: "SparkPost's sending IP pool: accepted and ignored (this service sends no mail)",
    }),
  })
  .openapi("CreateSubaccount");

const SubaccountSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    status: z.enum(subaccountStatuses).openapi({
      description:
        "suspended and terminated stop the subaccount's own keys (its links keep working); terminated is for good",
    }),
    compliance_status: z.literal("active"),
    created_at: z.string(),
  })
  .openapi("Subaccount");

const UpdateBody = z
  .object({
    name: CreateBody.shape.name.optional(),
    status: z.enum(subaccountStatuses).optional(),
    ip_pool: CreateBody.shape.ip_pool,
  })
  .openapi("UpdateSubaccount");

const SubaccountParam = z.object({
  id: z.coerce
    .number()
    .int()
    .min(1)
    .openapi({ param: { name: "id", in: "path" }, example: 123 }),
});

const CreatedSchema = z.object({
  subaccount_id: z.number().int(),
  name: z.string(),
  key: z.string().optional().openapi({ description: "The new API key; shown only this once" }),
  short_key: z.string().optional(),
  label: z.string().optional(),
  key_id: z.string().optional().openapi({ description: "The new key's id in /api/v1/api-keys" }),
  grants: z.array(z.enum(grantNames)).optional(),
});

const routes = {
  create: createRoute({
    method: "post",
    path: "/",
    summary: "Create a subaccount",
    request: { body: { content: { "application/json": { schema: CreateBody } }, required: true } },
    responses: {
      200: jsonContent(resultsOf(CreatedSchema), "The new subaccount"),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
  }),
  retrieve: createRoute({
    method: "get",
    path: "/{id}",
    summary: "Retrieve a subaccount",
    request: { params: SubaccountParam },
    responses: {
      200: jsonContent(resultsOf(SubaccountSchema), "The subaccount"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  update: createRoute({
    method: "put",
    path: "/{id}",
    summary: "Rename a subaccount, or suspend, reactivate or terminate it",
    request: { params: SubaccountParam, body: jsonBody(UpdateBody) },
    responses: {
      200: jsonContent(
        resultsOf(SubaccountSchema.extend({ message: z.string() })),
        "SparkPost's message, and the subaccount as it is now",
      ),
      ...errorResponses(400, 401, 403, 404, 413, 415, 422),
    },
  }),
  list: createRoute({
    method: "get",
    path: "/",
    summary: "List subaccounts",
    responses: {
      200: jsonContent(resultsOf(z.array(SubaccountSchema)), "The subaccounts"),
      ...errorResponses(400, 401, 403),
    },
  }),
};

const presentSubaccount = (s: Subaccount) => ({
  id: s.id,
  name: s.name,
  status: s.status,
  compliance_status: "active" as const,
  created_at: s.createdAt,
});

/** The subaccount made, or the 403 that names the limit that stood in the way. */
function createdOrRefused(
  made: Awaited<ReturnType<typeof createSubaccount>>,
  limits: SubaccountLimits,
): Subaccount {
  if ("created" in made) return made.created;
  if (made.limit === "subaccounts") {
    throw forbidden(
      `This account has ${limits.subaccounts} subaccounts, its limit (MAX_SUBACCOUNTS_PER_ACCOUNT). Nothing was created.`,
    );
  }
  throw forbidden(
    `This account already holds ${limits.keys} API keys, its limit; revoke one it no longer uses (see last_used_at) before making a subaccount with a key. Nothing was created.`,
    "setup_api_key",
  );
}

function requirePrimaryKey(auth: AuthContext): void {
  if (auth.keySubaccountId !== null || auth.subaccountId !== null) {
    throw forbidden(
      "Subaccounts are managed with a primary-account key, without X-MSYS-SUBACCOUNT",
    );
  }
}

export function subaccountRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.create, async (c) => {
    const auth = c.get("auth");
    requirePrimaryKey(auth);
    const body = c.req.valid("json");
    // SparkPost makes the key unless told not to; a body with no key field at all asks for none.
    const setupApiKey =
      body.setup_api_key ?? (body.key_label !== undefined || body.key_grants !== undefined);
    for (const param of ["key_label", "key_grants", "key_valid_ips"] as const) {
      if (body[param] !== undefined && !setupApiKey) {
        throw new ApiError(422, {
          message: "invalid combination of fields",
          code: sparkPostCodes.invalidCombination,
          description: `${param} only applies when a key is made (setup_api_key: false says none is)`,
          param,
        });
      }
    }
    const limits = { subaccounts: loadConfig(c.env).limits.subaccounts, keys: maxActiveKeys };
    if (!setupApiKey) {
      const made = await createSubaccount(c.env.DB, auth.accountId, body.name, limits);
      const subaccount = createdOrRefused(made, limits);
      return c.json({ results: { subaccount_id: subaccount.id, name: subaccount.name } }, 200);
    }
    // Making a key is what api_keys/manage is for, whichever route makes it.
    if (!holds(auth.grants, "api_keys/manage")) {
      throw forbidden(
        "This API key does not hold the api_keys/manage grant, which setup_api_key needs: a key is made only by a key that may manage keys.",
        "setup_api_key",
      );
    }
    const grants = checkGiven(
      auth,
      true,
      body.key_grants
        ? ourGrants(c, body.key_grants, "key_grants")
        : everyGrant(true).filter((g) => holds(auth.grants, g)),
      "key_grants",
    );
    const validIps = checkReach(auth, body.key_valid_ips ?? auth.validIps, "key_valid_ips");
    const key = await generateApiKey();
    const label = body.key_label ?? `${body.name} key`;
    const made = await createSubaccount(c.env.DB, auth.accountId, body.name, limits, {
      publicId: key.publicId,
      label,
      shortKey: key.shortKey,
      hash: key.hash,
      grants,
      validIps,
    });
    const subaccount = createdOrRefused(made, limits);
    return c.json(
      {
        results: {
          subaccount_id: subaccount.id,
          name: subaccount.name,
          key: key.key,
          short_key: key.shortKey,
          label,
          key_id: key.publicId,
          grants,
        },
      },
      200,
    );
  });

  app.openapi(routes.list, async (c) => {
    const auth = c.get("auth");
    requirePrimaryKey(auth);
    const subaccounts = await listSubaccounts(c.env.DB, auth.accountId);
    return c.json({ results: subaccounts.map(presentSubaccount) }, 200);
  });

  app.openapi(routes.update, async (c) => {
    const auth = c.get("auth");
    requirePrimaryKey(auth);
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const updated = await updateSubaccount(c.env.DB, auth.accountId, id, body);
    if (updated === null) throw notFound(`Subaccount ${id} does not exist`);
    if (updated === "terminated") {
      throw invalidField(
        "status",
        `Subaccount ${id} is terminated, which is for good: it cannot be changed`,
        body.status,
      );
    }
    return c.json(
      {
        results: {
          message: "Successfully updated subaccount information",
          ...presentSubaccount(updated),
        },
      },
      200,
    );
  });

  app.openapi(routes.retrieve, async (c) => {
    const auth = c.get("auth");
    requirePrimaryKey(auth);
    const { id } = c.req.valid("param");
    const found = await getSubaccount(c.env.DB, auth.accountId, id);
    if (!found) throw notFound(`Subaccount ${id} does not exist`);
    return c.json({ results: presentSubaccount(found) }, 200);
  });

  return app;
}
