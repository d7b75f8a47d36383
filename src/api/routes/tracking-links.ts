// /api/v1/tracking-links: mint tracked links for a message — a batch of URLs, or a whole HTML
// body rewritten — on the tracking domain the message should use, with the scheme that domain
// can serve right now.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../config";
import { normalizeDomainName } from "../../domains/name";
import { KeyRingError } from "../../pki/key-ring";
import { signingRing } from "../../tracking/handlers";
import { rewriteHtml } from "../../tracking/html";
import { type SigningRing, targetProblem } from "../../tracking/link-token";
import { type LinkMinter, linkMinter, trackingDomainFor } from "../../tracking/minting";
import { logProblem } from "../../util/log";
import type { AppEnv, AuthContext } from "../context";
import { ApiError, invalidField, sparkPostCodes } from "../errors";
import { errorResponses, jsonContent, resultsOf } from "../schemas";
import { validationHook } from "../validation";

const context = {
  sending_domain: z
    .string()
    .max(1024)
    .optional()
    .openapi({ description: "Use this sending domain's tracking domain (else the defaults)" }),
  message_id: z.string().max(256).optional(),
  recipient_id: z.string().max(256).optional(),
};

const LinksBody = z
  .object({
    ...context,
    links: z
      .array(z.object({ url: z.string().max(8192), name: z.string().max(256).optional() }))
      .min(1)
      .max(1000),
    open_pixel: z
      .boolean()
      .optional()
      .openapi({ description: "Also mint an open pixel URL (default true)" }),
  })
  .openapi("MintLinks");

const HtmlBody = z.object({ ...context, html: z.string().max(2_000_000) }).openapi("RewriteHtml");

const Minted = {
  tracking_domain: z.string(),
  scheme: z
    .enum(["https", "http"])
    .openapi({ description: "https only while the domain's certificate is valid" }),
};

const routes = {
  links: createRoute({
    method: "post",
    path: "/",
    summary: "Mint tracked links",
    request: { body: { content: { "application/json": { schema: LinksBody } }, required: true } },
    responses: {
      200: jsonContent(
        resultsOf(
          z.object({
            ...Minted,
            links: z.array(
              z.object({ url: z.string(), name: z.string().nullable(), tracked_url: z.string() }),
            ),
            open_pixel_url: z.string().nullable(),
          }),
        ),
        "The tracked links",
      ),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
  }),
  html: createRoute({
    method: "post",
    path: "/html",
    summary: "Rewrite an HTML body for tracking: links wrapped, open pixels added",
    request: { body: { content: { "application/json": { schema: HtmlBody } }, required: true } },
    responses: {
      200: jsonContent(
        resultsOf(
          z.object({
            ...Minted,
            html: z.string(),
            links_tracked: z.number().int(),
            links_left: z.number().int(),
          }),
        ),
        "The rewritten HTML",
      ),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
  }),
};

async function minterFor(
  env: Env,
  auth: AuthContext,
  body: {
    sending_domain?: string | undefined;
    message_id?: string | undefined;
    recipient_id?: string | undefined;
  },
): Promise<LinkMinter> {
  const config = loadConfig(env);
  const scope = { accountId: auth.accountId, subaccountId: auth.subaccountId ?? 0 };
  let sendingDomain: string | undefined;
  if (body.sending_domain !== undefined) {
    const name = normalizeDomainName(body.sending_domain, {
      extraPublicSuffixes: config.extraPublicSuffixes,
      allowApex: true,
    });
    if (!name.ok)
      throw invalidField(
        "sending_domain",
        `sending_domain ${JSON.stringify(body.sending_domain)} ${name.problem.message}`,
        body.sending_domain,
      );
    sendingDomain = name.domain;
  }
  const domain = await trackingDomainFor(env.DB, scope, sendingDomain);
  if (!domain) {
    throw new ApiError(422, {
      message: "no tracking domain",
      code: sparkPostCodes.invalidData,
      description: `No verified tracking domain for this message: associate one with ${sendingDomain ? `the sending domain ${sendingDomain}` : "a sending domain"} or make one the default.`,
      ...(sendingDomain ? { param: "sending_domain", value: sendingDomain } : {}),
    });
  }
  let ring: SigningRing;
  try {
    ring = signingRing(env.LINK_SIGNING_KEYS);
  } catch (error) {
    if (!(error instanceof KeyRingError)) throw error;
    logProblem("config_error", { message: error.message });
    throw new ApiError(503, {
      message: "service unavailable",
      code: sparkPostCodes.unavailable,
      description: "Links cannot be signed right now; try again later.",
    });
  }
  return linkMinter(ring, domain, {
    accountId: scope.accountId,
    subaccountId: domain.subaccountId,
    ...(body.message_id === undefined ? {} : { messageId: body.message_id }),
    ...(body.recipient_id === undefined ? {} : { recipientId: body.recipient_id }),
  });
}

export function trackingLinkRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.links, async (c) => {
    const body = c.req.valid("json");
    const problems = body.links.flatMap((link, i) => {
      const problem = targetProblem(link.url);
      return problem ? [{ i, problem, url: link.url }] : [];
    });
    if (problems.length > 0) {
      throw new ApiError(
        422,
        problems.map((p) => ({
          message: `invalid links.${p.i}.url`,
          code: sparkPostCodes.invalidData,
          description: `links.${p.i}.url ${p.problem}`,
          param: `links.${p.i}.url`,
          value: p.url,
        })),
      );
    }
    const minter = await minterFor(c.env, c.get("auth"), body);
    const links = await Promise.all(
      body.links.map(async (link) => ({
        url: link.url,
        name: link.name ?? null,
        tracked_url: await minter.click(link.url, link.name),
      })),
    );
    const openPixel = body.open_pixel === false ? null : await minter.open();
    return c.json(
      {
        results: {
          tracking_domain: minter.trackingDomain,
          scheme: minter.scheme,
          links,
          open_pixel_url: openPixel,
        },
      },
      200,
    );
  });

  app.openapi(routes.html, async (c) => {
    const body = c.req.valid("json");
    const minter = await minterFor(c.env, c.get("auth"), body);
    const rewritten = await rewriteHtml(body.html, minter);
    return c.json(
      {
        results: {
          tracking_domain: minter.trackingDomain,
          scheme: minter.scheme,
          html: rewritten.html,
          links_tracked: rewritten.linksTracked,
          links_left: rewritten.linksLeft,
        },
      },
      200,
    );
  });

  return app;
}
