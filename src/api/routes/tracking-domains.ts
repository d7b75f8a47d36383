// /api/v1/tracking-domains: create, list, retrieve, update, delete and verify, in SparkPost's
// envelopes. Every lookup goes through the caller's scope: another account's domain is a 404.

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../config";
import { createDohResolver } from "../../dns/doh";
import {
  presentTrackingDomain,
  presentVerification,
  TrackingDomainSchema,
  VerificationSchema,
} from "../../domains/api-shape";
import { probeHttps } from "../../domains/https-probe";
import {
  awaitingCertificate,
  endpointsOf,
  type HttpsMode,
  httpsModes,
  noCertificate,
  regions,
} from "../../domains/model";
import { probeContextFor } from "../../domains/proxy-probe";
import {
  deleteTrackingDomain,
  insertTrackingDomain,
  listTrackingDomains,
  recordDnsCheck,
  recordHttpsCheck,
  type TrackingDomainChange,
  updateTrackingDomain,
} from "../../domains/repository";
import { verifyCname } from "../../domains/verification";
import { logProblem, messageOf } from "../../util/log";
import { deliverChangesOf } from "../../webhooks/delivery";
import {
  eligibilityOf,
  forgetCertificates,
  notEligible,
  noteDomainEvent,
  routeToEdge,
  startIssuance,
  stopIssuance,
} from "../certificate-lifecycle";
import type { AppEnv } from "../context";
import { missingDomain, ownedDomain, parseDomain } from "../domain-lookup";
import { ApiError, invalidField, sparkPostCodes } from "../errors";
import { errorResponses, jsonBody, jsonContent, resultsOf } from "../schemas";
import { validationHook } from "../validation";

const DomainParam = z.object({
  domain: z
    .string()
    .openapi({ param: { name: "domain", in: "path" }, example: "track.example.com" }),
});

const CreateBody = z
  .strictObject({
    domain: z.string().max(1024).openapi({ example: "track.example.com" }),
    secure: z.boolean().optional().openapi({ description: "Managed HTTPS; on unless false" }),
    https_mode: z.enum(httpsModes).optional().openapi({
      description:
        "managed (the default), self_managed (your CDN or proxy terminates TLS and forwards to us) or none; secure:false is none",
    }),
    region: z.enum(regions).optional().openapi({ description: "Defaults to us" }),
  })
  .openapi("CreateTrackingDomain");

const UpdateBody = z
  .strictObject({
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

const ListQuery = z.object({
  default: z
    .enum(["true", "false"])
    .optional()
    .openapi({ description: "Only default (or only non-default) domains" }),
  subaccounts: z
    .string()
    .regex(/^\d{1,9}(,\d{1,9})*$/, "must be a comma-separated list of subaccount ids")
    .optional()
    .openapi({ description: "Only these subaccounts; 0 is the primary account", example: "0,12" }),
});

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
      ...errorResponses(400, 401, 403, 404, 413, 415, 422),
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
      ...errorResponses(400, 401, 403, 404, 429),
    },
  }),
};

/** The HTTPS mode a create or update asks for: https_mode, or secure in SparkPost's terms. */
function requestedMode(body: { secure?: boolean; https_mode?: HttpsMode }): HttpsMode | undefined {
  const fromSecure = body.secure === undefined ? undefined : body.secure ? "managed" : "none";
  if (body.https_mode !== undefined && fromSecure !== undefined && body.https_mode !== fromSecure) {
    throw invalidField(
      "https_mode",
      `https_mode ${body.https_mode} contradicts secure:${body.secure} (secure:true is managed, secure:false is none); send one of them`,
      body.https_mode,
    );
  }
  return body.https_mode ?? fromSecure;
}

export function trackingDomainRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.create, async (c) => {
    const body = c.req.valid("json");
    const config = loadConfig(c.env);
    const auth = c.get("auth");
    const domain = parseDomain(body.domain, config);
    const mode = requestedMode(body) ?? "managed";
    const inserted = await insertTrackingDomain(c.env.DB, {
      domain,
      accountId: auth.accountId,
      subaccountId: auth.subaccountId ?? 0,
      region: body.region ?? "us",
      httpsMode: mode,
      tls: mode === "managed" ? awaitingCertificate : noCertificate,
    });
    if (!inserted) {
      throw new ApiError(409, {
        message: "resource conflict",
        code: sparkPostCodes.conflict,
        description: `Tracking domain ${domain} already exists`,
        param: "domain",
        value: body.domain,
      });
    }
    const created = await ownedDomain(c, domain);
    return c.json({ results: presentTrackingDomain(created, config) }, 200);
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
    const mode = requestedMode(body);
    if (mode === undefined && body.default === undefined) {
      throw new ApiError(422, {
        message: "nothing to update",
        code: sparkPostCodes.missingField,
        description: "Send at least one of secure, https_mode and default",
      });
    }
    const change: TrackingDomainChange = {};
    if (body.default === true && !current.verified) {
      throw invalidField(
        "default",
        `${current.domain} must be verified before it can be the default tracking domain`,
        true,
      );
    }
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
    const config = loadConfig(c.env);
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    const otherRegions = regions.filter((r) => r !== domain.region).map((r) => config.endpoints[r]);
    const resolver = createDohResolver({ url: config.dohUrl });
    const result = await verifyCname(
      resolver,
      domain.domain,
      endpointsOf(domain, config.endpoints),
      otherRegions.flatMap((e) => [e.v2, e.standard]),
    );
    if (domain.httpsMode === "self_managed") {
      // The CNAME points at the customer's CDN: only a probe through it proves anything.
      const probe = await probeHttps(domain.domain, probeContextFor(c.env, config, resolver));
      const checkedAt = new Date().toISOString();
      await recordDnsCheck(c.env.DB, domain.domain, {
        check: { checkedAt, chain: result.chain, errorCode: null, detail: result.detail },
      });
      await recordHttpsCheck(c.env.DB, domain.domain, {
        checkedAt,
        errorCode: probe.errorCode ?? null,
        detail: probe.detail,
      });
      // A changed result wrote a webhook event (a D1 trigger): sent after the answer.
      c.executionCtx.waitUntil(deliverChangesOf(c.env, { domain: domain.domain }));
      // The proxy forwards to our endpoint with the customer's Host: the edge must know the name.
      if (probe.ok) await routeToEdge(c.env, domain);
      const after = await ownedDomain(c, domain.domain);
      return c.json({ results: presentVerification(after, result, probe) }, 200);
    }
    const reachesUs = result.cnameStatus === "valid";
    await recordDnsCheck(c.env.DB, domain.domain, {
      check: {
        checkedAt: new Date().toISOString(),
        chain: result.chain,
        errorCode: result.errorCode,
        detail: result.detail,
      },
      ...(result.cnameStatus === "unknown"
        ? {}
        : {
            verdict: {
              verified: reachesUs,
              cnameStatus: result.cnameStatus,
              complianceStatus:
                domain.complianceStatus === "pending" && reachesUs
                  ? "valid"
                  : domain.complianceStatus,
            },
          }),
    });
    if (reachesUs) await routeToEdge(c.env, domain);
    // A verified managed domain starts issuance (again, after a failure: verifying is a retry).
    if (reachesUs && domain.httpsMode === "managed") await startIssuance(c.env, domain);
    const after = await ownedDomain(c, domain.domain);
    return c.json({ results: presentVerification(after, result) }, 200);
  });

  return app;
}
