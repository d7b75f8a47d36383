// /api/v1/sending-domains: the minimum of SparkPost's Sending Domains API that link minting
// needs — a sending domain and the tracking domain it uses (same account and subaccount).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { type Config, loadConfig } from "../../config";
import { normalizeDomainName } from "../../domains/name";
import { getTrackingDomain } from "../../domains/repository";
import {
  deleteSendingDomain,
  getSendingDomain,
  insertSendingDomain,
  listSendingDomains,
  type SendingDomain,
  setTrackingDomain,
} from "../../domains/sending-domains";
import type { AppEnv, AuthContext } from "../context";
import { ApiError, forbidden, invalidField, notFound, sparkPostCodes } from "../errors";
import { errorResponses, jsonBody, jsonContent, resultsOf } from "../schemas";
import { validationHook } from "../validation";

const SendingDomainSchema = z
  .object({
    domain: z.string().openapi({ example: "mail.example.com" }),
    tracking_domain: z.string().nullable().openapi({ example: "track.example.com" }),
    subaccount_id: z.number().int(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("SendingDomain");

const DomainParam = z.object({
  domain: z
    .string()
    .openapi({ param: { name: "domain", in: "path" }, example: "mail.example.com" }),
});

const routes = {
  create: createRoute({
    method: "post",
    path: "/",
    summary: "Create a sending domain",
    request: {
      body: jsonBody(
        z
          .object({
            domain: z.string().max(1024),
            tracking_domain: z.string().max(1024).nullable().optional(),
          })
          .openapi("CreateSendingDomain"),
      ),
    },
    responses: {
      200: jsonContent(resultsOf(SendingDomainSchema), "The new sending domain"),
      ...errorResponses(400, 401, 403, 409, 413, 415, 422),
    },
  }),
  list: createRoute({
    method: "get",
    path: "/",
    summary: "List sending domains",
    responses: {
      200: jsonContent(resultsOf(z.array(SendingDomainSchema)), "The sending domains"),
      ...errorResponses(400, 401, 403),
    },
  }),
  retrieve: createRoute({
    method: "get",
    path: "/{domain}",
    summary: "Retrieve a sending domain",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(SendingDomainSchema), "The sending domain"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  update: createRoute({
    method: "put",
    path: "/{domain}",
    summary: "Set (or clear, with null) the sending domain's tracking domain",
    request: {
      params: DomainParam,
      body: jsonBody(
        z
          .object({ tracking_domain: z.string().max(1024).nullable() })
          .openapi("UpdateSendingDomain"),
      ),
    },
    responses: {
      200: jsonContent(resultsOf(SendingDomainSchema), "The updated sending domain"),
      ...errorResponses(400, 401, 403, 404, 413, 415, 422),
    },
  }),
  delete: createRoute({
    method: "delete",
    path: "/{domain}",
    summary: "Delete a sending domain",
    request: { params: DomainParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
};

const present = (d: SendingDomain): z.infer<typeof SendingDomainSchema> => ({
  domain: d.domain,
  tracking_domain: d.trackingDomain,
  subaccount_id: d.subaccountId,
  created_at: d.createdAt,
  updated_at: d.updatedAt,
});

function sendingDomainName(input: string, config: Config): string | undefined {
  const result = normalizeDomainName(input, {
    extraPublicSuffixes: config.extraPublicSuffixes,
    allowApex: true,
  });
  return result.ok ? result.domain : undefined;
}

/** The tracking domain a sending domain may use: one of the same account and subaccount. */
async function usableTrackingDomain(
  env: Env,
  auth: AuthContext,
  subaccountId: number,
  input: string | null | undefined,
): Promise<string | null> {
  if (input === null || input === undefined) return null;
  const config = loadConfig(env);
  const name = normalizeDomainName(input, { extraPublicSuffixes: config.extraPublicSuffixes });
  const tracking = name.ok
    ? await getTrackingDomain(env.DB, { accountId: auth.accountId, subaccountId }, name.domain)
    : null;
  if (!tracking) {
    throw invalidField(
      "tracking_domain",
      `tracking_domain ${input} is not a tracking domain of this ${subaccountId === 0 ? "account" : `subaccount (${subaccountId})`}`,
      input,
    );
  }
  return tracking.domain;
}

export function sendingDomainRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  const owned = async (env: Env, auth: AuthContext, input: string): Promise<SendingDomain> => {
    const name = sendingDomainName(input, loadConfig(env));
    const found = name === undefined ? null : await getSendingDomain(env.DB, auth, name);
    if (!found) throw notFound(`Sending domain ${input} does not exist`);
    return found;
  };

  app.openapi(routes.create, async (c) => {
    const body = c.req.valid("json");
    const auth = c.get("auth");
    const domain = sendingDomainName(body.domain, loadConfig(c.env));
    if (!domain)
      throw invalidField(
        "domain",
        `domain ${JSON.stringify(body.domain)} is not a valid domain name`,
        body.domain,
      );
    const subaccountId = auth.subaccountId ?? 0;
    const trackingDomain = await usableTrackingDomain(
      c.env,
      auth,
      subaccountId,
      body.tracking_domain,
    );
    const limit = loadConfig(c.env).limits.sendingDomains;
    const inserted = await insertSendingDomain(
      c.env.DB,
      { domain, accountId: auth.accountId, subaccountId, trackingDomain },
      limit,
    );
    if (inserted === "limit") {
      throw forbidden(
        `This account has ${limit} sending domains, its limit (MAX_SENDING_DOMAINS_PER_ACCOUNT); delete one it no longer uses first.`,
        "domain",
      );
    }
    if (inserted === "exists") {
      throw new ApiError(409, {
        message: "resource conflict",
        code: sparkPostCodes.conflict,
        description: `Sending domain ${domain} already exists`,
        param: "domain",
        value: body.domain,
      });
    }
    return c.json({ results: present(await owned(c.env, auth, domain)) }, 200);
  });

  app.openapi(routes.list, async (c) =>
    c.json({ results: (await listSendingDomains(c.env.DB, c.get("auth"))).map(present) }, 200),
  );

  app.openapi(routes.retrieve, async (c) =>
    c.json(
      { results: present(await owned(c.env, c.get("auth"), c.req.valid("param").domain)) },
      200,
    ),
  );

  app.openapi(routes.update, async (c) => {
    const auth = c.get("auth");
    const current = await owned(c.env, auth, c.req.valid("param").domain);
    const trackingDomain = await usableTrackingDomain(
      c.env,
      auth,
      current.subaccountId,
      c.req.valid("json").tracking_domain,
    );
    await setTrackingDomain(c.env.DB, current.domain, trackingDomain);
    return c.json({ results: present(await owned(c.env, auth, current.domain)) }, 200);
  });

  app.openapi(routes.delete, async (c) => {
    const auth = c.get("auth");
    const current = await owned(c.env, auth, c.req.valid("param").domain);
    await deleteSendingDomain(c.env.DB, auth, current.domain);
    return c.body(null, 204);
  });

  return app;
}
