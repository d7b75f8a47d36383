// /api/v1/tracking-domains: create, list, retrieve, update, delete and verify, in SparkPost's
// envelopes. Every lookup goes through the caller's scope: another account's domain is a 404.

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { loadConfig } from "../../config";
import {
  OwnershipSchema,
  presentTrackingDomain,
  presentVerification,
  TrackingDomainSchema,
  VerificationSchema,
} from "../../domains/api-shape";
import {
  awaitingCertificate,
  type HttpsMode,
  httpsModes,
  noCertificate,
  regions,
} from "../../domains/model";
import {
  deleteTrackingDomain,
  holderOf,
  listTrackingDomains,
  type TrackingDomainChange,
  updateTrackingDomain,
} from "../../domains/repository";
import { deploymentNameCovering } from "../../domains/reserved-names";
import { logProblem, messageOf } from "../../util/log";
import {
  eligibilityOf,
  forgetCertificates,
  noteDomainEvent,
  startIssuance,
  stopIssuance,
} from "../../workflows/certificate-lifecycle";
import { claimDomain } from "../../workflows/claim-domain";
import { claimRecord, createDomain } from "../../workflows/create-domain";
import { verifyDomain } from "../../workflows/verify-domain";
import { countLookup } from "../auth";
import type { AppEnv } from "../context";
import { missingDomain, ownedDomain, parseDomain } from "../domain-lookup";
import { ApiError, forbidden, invalidField, notEligible, sparkPostCodes } from "../errors";
import { requireOrderBudget } from "../order-budget";
import { errorResponses, jsonBody, jsonContent, resultsOf } from "../schemas";
import { noteIgnored, validationHook } from "../validation";

const DomainParam = z.object({
  domain: z
    .string()
    .openapi({ param: { name: "domain", in: "path" }, example: "track.example.com" }),
});

/** SparkPost's port: 80 with secure false, 443 with secure true (its port/secure table). */
const servedPorts = [80, 443] as const;
const Port = z
  .number()
  .int()
  .optional()
  .openapi({ description: "SparkPost's port: 80 is secure:false, 443 is secure:true" });

const CreateBody = z
  .object({
    domain: z.string().max(1024).openapi({ example: "track.example.com" }),
    port: Port,
    secure: z.boolean().optional().openapi({ description: "Managed HTTPS; on unless false" }),
    default: z.boolean().optional().openapi({
      description:
        "false, or absent: a new domain is unverified, and only a verified one can be the default",
    }),
    https_mode: z.enum(httpsModes).optional().openapi({
      description:
        "managed (the default), self_managed (your CDN or proxy terminates TLS and forwards to us) or none; secure:false is none",
    }),
    region: z.enum(regions).optional().openapi({ description: "Defaults to us" }),
  })
  .openapi("CreateTrackingDomain");

const UpdateBody = z
  .object({
    port: Port,
    secure: z
      .boolean()
      .optional()
      .openapi({ description: "true turns managed HTTPS on, false turns HTTPS off" }),
    https_mode: z.enum(httpsModes).optional().openapi({
      description:
        "Switch between managed, self_managed and none (recorded in the domain's events)",
    }),
    default: z
      .boolean()
      .optional()
      .openapi({ description: "Make this the default tracking domain (verified domains only)" }),
  })
  .openapi("UpdateTrackingDomain");

/** Most subaccount ids one ?subaccounts= may list (they are queried as one JSON value). */
const maxListedSubaccounts = 1000;

const ListQuery = z.object({
  default: z
    .enum(["true", "false"])
    .optional()
    .openapi({ description: "Only default (or only non-default) domains" }),
  subaccounts: z
    .string()
    .regex(/^\d{1,9}(,\d{1,9})*$/, "must be a comma-separated list of subaccount ids")
    .refine(
      (list) => list.split(",").length <= maxListedSubaccounts,
      `must list at most ${maxListedSubaccounts} subaccount ids`,
    )
    .optional()
    .openapi({ description: "Only these subaccounts; 0 is the primary account", example: "0,12" }),
});

const ClaimBody = z
  .object({
    https_mode: CreateBody.shape.https_mode,
    secure: CreateBody.shape.secure,
    region: CreateBody.shape.region,
  })
  .openapi("ClaimTrackingDomain");

const ClaimRecordSchema = z
  .object({
    domain: z.string(),
    ownership: OwnershipSchema.pick({ name: true, value: true }),
    held_by_this_account: z.boolean(),
  })
  .openapi("ClaimRecord");

const routes = {
  create: createRoute({
    method: "post",
    path: "/",
    summary: "Create a tracking domain",
    request: { body: jsonBody(CreateBody) },
    responses: {
      200: jsonContent(resultsOf(TrackingDomainSchema), "The new domain"),
      ...errorResponses(400, 401, 403, 409, 413, 415, 422),
    },
  }),
  list: createRoute({
    method: "get",
    path: "/",
    summary: "List tracking domains",
    request: { query: ListQuery },
    responses: {
      200: jsonContent(resultsOf(z.array(TrackingDomainSchema)), "The domains"),
      ...errorResponses(400, 401, 403),
    },
  }),
  retrieve: createRoute({
    method: "get",
    path: "/{domain}",
    summary: "Retrieve a tracking domain",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(TrackingDomainSchema), "The domain"),
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  update: createRoute({
    method: "put",
    path: "/{domain}",
    summary: "Update a tracking domain",
    request: { params: DomainParam, body: jsonBody(UpdateBody) },
    responses: {
      200: jsonContent(resultsOf(TrackingDomainSchema), "The updated domain"),
      ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    },
  }),
  delete: createRoute({
    method: "delete",
    path: "/{domain}",
    summary: "Delete a tracking domain",
    request: { params: DomainParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  verify: createRoute({
    method: "post",
    path: "/{domain}/verify",
    summary: "Verify a tracking domain's CNAME",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(VerificationSchema), "What DNS says, and what that means"),
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  }),
  claimRecord: createRoute({
    method: "get",
    path: "/{domain}/claim",
    summary: "The TXT record that proves a name is yours",
    description:
      "The record to add before claiming a name that another account holds (or before verifying a name that needs proof).",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(ClaimRecordSchema), "The record"),
      ...errorResponses(400, 401, 403, 422),
    },
  }),
  claim: createRoute({
    method: "post",
    path: "/{domain}/claim",
    summary: "Claim a name you own from whoever holds it",
    description:
      "With this account's ownership TXT record in place (GET …/claim), the name moves to this account: the holder's domain ends, its webhooks hear domain_claimed, its certificate leaves the edge and the links it minted stop redirecting. Verify the domain afterwards.",
    request: {
      params: DomainParam,
      body: { content: { "application/json": { schema: ClaimBody } }, required: false },
    },
    responses: {
      200: jsonContent(resultsOf(TrackingDomainSchema), "The domain, now this account's"),
      ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429),
    },
  }),
};

/** A name the service will not take: SparkPost's 400 with its restricted-domain code. */
const restricted = (description: string, value: unknown) =>
  new ApiError(400, {
    message: "restricted domain",
    code: sparkPostCodes.restrictedDomain,
    description,
    param: "domain",
    value,
  });

const conflict = (description: string, value: unknown) =>
  new ApiError(409, {
    message: "resource conflict",
    code: sparkPostCodes.conflict,
    description,
    param: "domain",
    value,
  });

function unreachable(value: never): never {
  throw new Error(`unhandled outcome ${JSON.stringify(value)}`);
}

/**
 * The HTTPS mode a create or update asks for: https_mode, or in SparkPost's terms secure, or port
 * alone (80 is http, 443 https, its port/secure table). A port we do not serve is refused; a port
 * that disagrees with secure is ignored (secure decides, as links are served on 80 and 443 only)
 * and named in X-Ignored-Fields.
 */
function requestedMode(
  c: Context<AppEnv>,
  body: {
    port?: number | undefined;
    secure?: boolean | undefined;
    https_mode?: HttpsMode | undefined;
  },
): HttpsMode | undefined {
  const { port } = body;
  if (port !== undefined && !(servedPorts as readonly number[]).includes(port)) {
    throw invalidField(
      "port",
      `port ${port} is not served: tracking links use port 80 (http, secure:false) or 443 (https, secure:true)`,
      port,
    );
  }
  const fromPort = port === undefined ? undefined : port === 443;
  if (body.secure !== undefined && fromPort !== undefined && body.secure !== fromPort)
    noteIgnored(c, [`port (secure:${body.secure} decides: links use ${body.secure ? 443 : 80})`]);
  const secure = body.secure ?? fromPort;
  if (body.https_mode !== undefined) {
    if (secure !== undefined && secure !== (body.https_mode !== "none")) {
      throw invalidField(
        "https_mode",
        `https_mode ${body.https_mode} contradicts ${body.secure === undefined ? `port ${port}` : `secure:${secure}`} (managed and self_managed are served over https, none over http); send one of them`,
        body.https_mode,
      );
    }
    return body.https_mode;
  }
  return secure === undefined ? undefined : secure ? "managed" : "none";
}

/** SparkPost refuses an unverified default with these words (a new domain is unverified). */
function refuseUnverifiedDefault(isDefault: boolean | undefined): void {
  if (isDefault === true)
    throw invalidField(
      "default",
      "Tracking domain unverified: verify it before making it the default",
      true,
    );
}

export function trackingDomainRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.create, async (c) => {
    const body = c.req.valid("json");
    const config = loadConfig(c.env);
    const auth = c.get("auth");
    const domain = parseDomain(body.domain, config);
    const mode = requestedMode(c, body) ?? "managed";
    refuseUnverifiedDefault(body.default);
    const outcome = await createDomain(
      c.env,
      { accountId: auth.accountId, subaccountId: auth.subaccountId ?? 0 },
      { domain, region: body.region ?? "us", httpsMode: mode },
    );
    switch (outcome.kind) {
      case "created":
        return c.json({ results: presentTrackingDomain(outcome.domain, config) }, 200);
      case "ours":
        throw restricted(
          `${domain} is ${outcome.name === domain ? "" : `under ${outcome.name}, `}one of this service's own names (a CNAME target or an API host); a tracking domain must be a name of yours that points at one of them`,
          body.domain,
        );
      case "exists":
        throw conflict(`Tracking domain ${domain} already exists in this account`, body.domain);
      case "held_elsewhere":
        throw conflict(
          `Tracking domain ${domain} is held by another account. If the name is yours, add a TXT record ${outcome.record.name} with the value ${outcome.record.value}, then POST /api/v1/tracking-domains/${domain}/claim: the name moves to this account.`,
          body.domain,
        );
      case "limit":
        throw forbidden(
          `This account holds ${outcome.limit} tracking domains, its limit (MAX_TRACKING_DOMAINS_PER_ACCOUNT); delete one it no longer uses, or ask us for a higher limit.`,
          "domain",
        );
      default:
        return unreachable(outcome);
    }
  });

  app.openapi(routes.list, async (c) => {
    const query = c.req.valid("query");
    const config = loadConfig(c.env);
    const domains = await listTrackingDomains(c.env.DB, c.get("auth"), {
      ...(query.default === undefined ? {} : { isDefault: query.default === "true" }),
      ...(query.subaccounts === undefined
        ? {}
        : { subaccountIds: query.subaccounts.split(",").map(Number) }),
    });
    return c.json({ results: domains.map((d) => presentTrackingDomain(d, config)) }, 200);
  });

  app.openapi(routes.retrieve, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    return c.json({ results: presentTrackingDomain(domain, loadConfig(c.env)) }, 200);
  });

  app.openapi(routes.update, async (c) => {
    const body = c.req.valid("json");
    const current = await ownedDomain(c, c.req.valid("param").domain);
    const mode = requestedMode(c, body);
    if (mode === undefined && body.default === undefined) {
      throw new ApiError(422, {
        message: "nothing to update",
        code: sparkPostCodes.missingField,
        description: "Send at least one of port, secure, https_mode and default",
      });
    }
    // A mode change looks at DNS (and may start an order): it counts as a check.
    if (mode !== undefined) await countLookup(c.env, current.accountId);
    if (mode === "managed" && current.verified && current.tls.status !== "valid")
      await requireOrderBudget(c.env, current.accountId);
    const change: TrackingDomainChange = {};
    if (!current.verified) refuseUnverifiedDefault(body.default);
    if (body.default !== undefined) change.isDefault = body.default;
    const switching = mode !== undefined && mode !== current.httpsMode;
    if (switching && mode === "managed") {
      // A verified domain must be eligible now; an unverified one starts once it is verified.
      if (current.verified) {
        const report = await eligibilityOf(c.env, current);
        if (report.checks.some((check) => check.status === "fail"))
          throw notEligible(current.domain, report);
      }
      change.httpsMode = "managed";
      change.tls = awaitingCertificate;
    }
    if (switching && mode !== "managed") {
      change.httpsMode = mode;
      change.tls = noCertificate;
    }
    await updateTrackingDomain(c.env.DB, current, change);
    // Both calls are idempotent, so repeating a request that failed half way completes it.
    if (mode === "managed" && current.verified) await startIssuance(c.env, current);
    if (mode !== undefined && mode !== "managed") await stopIssuance(c.env, current);
    if (switching) {
      await noteDomainEvent(
        c.env,
        current,
        `HTTPS mode changed from ${current.httpsMode} to ${mode} through the API${
          mode === "self_managed" ? "; verify to probe HTTPS through your proxy" : ""
        }.`,
      );
    }
    const updated = await ownedDomain(c, current.domain);
    return c.json({ results: presentTrackingDomain(updated, loadConfig(c.env)) }, 200);
  });

  app.openapi(routes.delete, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    if (!(await deleteTrackingDomain(c.env.DB, c.get("auth"), domain.domain)))
      throw missingDomain(domain.domain);
    try {
      await forgetCertificates(c.env, domain);
    } catch (error) {
      // The object notices the missing row at its next step and forgets everything then.
      logProblem("certificate_cleanup_failed", {
        domain: domain.domain,
        message: messageOf(error),
      });
    }
    return c.body(null, 204);
  });

  app.openapi(routes.verify, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    const verification = await verifyDomain(c.env, c.executionCtx, domain);
    return c.json(
      {
        results: presentVerification(
          verification.domain,
          loadConfig(c.env),
          verification.cname,
          verification.probe,
          verification.ownership,
        ),
      },
      200,
    );
  });

  app.openapi(routes.claimRecord, async (c) => {
    const config = loadConfig(c.env);
    const auth = c.get("auth");
    const domain = parseDomain(c.req.valid("param").domain, config);
    const ours = deploymentNameCovering(domain, config);
    if (ours)
      throw restricted(
        `${domain} is one of this service's own names, or under ${ours}; it cannot be claimed`,
        domain,
      );
    const record = await claimRecord(c.env, domain, auth.accountId);
    const held = (await holderOf(c.env.DB, domain))?.accountId === auth.accountId;
    return c.json(
      {
        results: {
          domain,
          ownership: { name: record.name, value: record.value },
          held_by_this_account: held,
        },
      },
      200,
    );
  });

  app.openapi(routes.claim, async (c) => {
    const config = loadConfig(c.env);
    const auth = c.get("auth");
    const domain = parseDomain(c.req.valid("param").domain, config);
    const body = (c.req.valid("json") as z.infer<typeof ClaimBody> | undefined) ?? {};
    await countLookup(c.env, auth.accountId);
    const outcome = await claimDomain(
      c.env,
      c.executionCtx,
      { accountId: auth.accountId, subaccountId: auth.subaccountId ?? 0 },
      { domain, region: body.region ?? "us", httpsMode: requestedMode(c, body) ?? "managed" },
    );
    switch (outcome.kind) {
      case "claimed":
        return c.json({ results: presentTrackingDomain(outcome.domain, config) }, 200);
      case "ours":
        throw restricted(
          `${domain} is one of this service's own names, or under ${outcome.name}; it cannot be claimed`,
          domain,
        );
      case "already_held":
        throw conflict(`Tracking domain ${domain} is already this account's`, domain);
      case "not_proven":
        throw new ApiError(422, {
          message: "ownership not proven",
          code: sparkPostCodes.invalidData,
          description: `${outcome.check.detail}${outcome.check.fix ? ` Fix: ${outcome.check.fix}` : ""}`,
          param: "domain",
          value: domain,
        });
      case "limit":
        throw forbidden(
          `This account holds ${outcome.limit} tracking domains, its limit (MAX_TRACKING_DOMAINS_PER_ACCOUNT); delete one before claiming another.`,
          "domain",
        );
      case "conflict":
        throw conflict(
          `Tracking domain ${domain} changed hands while it was being claimed; look at the TXT record and claim again`,
          domain,
        );
      default:
        return unreachable(outcome);
    }
  });

  return app;
}
