// /api/v1/tracking-domains/{domain}/certificate: the eligibility check (works on unverified
// domains), enabling managed HTTPS, and the certificate's state, history and transition events.
// Ownership is checked in D1 first: another account's domain is a 404 like any unknown name.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { domainCertificateStub } from "../../../durable-objects/stubs";
import { awaitingCertificate, errorCodes, tlsStatuses } from "../../domains/model";
import { updateTrackingDomain } from "../../domains/repository";
import type { EligibilityCheck } from "../../issuance/eligibility";
import { phases } from "../../issuance/state";
import {
  eligibilityOf,
  noteDomainEvent,
  startIssuance,
  withCertificateObject,
} from "../../workflows/certificate-lifecycle";
import type { AppEnv } from "../context";
import { ownedDomain } from "../domain-lookup";
import { ApiError, notEligible, sparkPostCodes } from "../errors";
import { requireOrderBudget } from "../order-budget";
import { errorResponses, jsonContent, pageLimit, resultsOf } from "../schemas";
import { validationHook } from "../validation";

const DomainParam = z.object({
  domain: z
    .string()
    .openapi({ param: { name: "domain", in: "path" }, example: "track.example.com" }),
});

const CheckSchema = z
  .object({
    name: z.enum(["name", "policy", "cname", "caa"]),
    status: z
      .enum(["pass", "fail", "error"])
      .openapi({ description: "error: the check could not be made (DNS); try again" }),
    found: z.string(),
    expected: z.string().nullable(),
    detail: z.string(),
    fix: z.string().nullable(),
    error_code: z.enum(errorCodes).nullable(),
    action_by: z.enum(["customer", "provider"]).nullable(),
  })
  .openapi("EligibilityCheck");

const EligibilitySchema = z
  .object({ eligible: z.boolean(), checks: z.array(CheckSchema) })
  .openapi("Eligibility");

const timestamp = z.string().openapi({ format: "date-time" });

const CertificateStateSchema = z
  .object({
    domain: z.string(),
    status: z.enum(tlsStatuses),
    step: z.enum(phases).openapi({ description: "The lifecycle step in progress or next" }),
    stuck: z.boolean().openapi({ description: "Pending without progress for 30 minutes" }),
    progress_at: timestamp.openapi({ description: "When the lifecycle last moved forward" }),
    next_attempt_at: timestamp.nullable(),
    failed_attempts: z.number().int(),
    error: z
      .object({
        code: z.enum(errorCodes),
        detail: z.string(),
        action_by: z.enum(["customer", "provider"]),
        at: timestamp,
      })
      .nullable(),
    certificate: z
      .object({
        serial: z.string(),
        issued_at: timestamp,
        not_before: timestamp,
        not_after: timestamp,
        renews_at: timestamp,
        chain_pem: z
          .string()
          .nullable()
          .openapi({ description: "The serving chain, leaf first (public; never the key)" }),
        renewal_info: z
          .object({
            window_start: timestamp,
            window_end: timestamp,
            selected: timestamp.openapi({
              description: "The random point in the window chosen for this renewal",
            }),
            explanation_url: z.string().nullable(),
            checked_at: timestamp,
          })
          .nullable()
          .openapi({
            description: "The CA's suggested renewal window (RFC 9773), when it offers one",
          }),
      })
      .nullable(),
    history: z.array(
      z.object({
        serial: z.string(),
        not_before: timestamp,
        not_after: timestamp,
        issuer: z.string().nullable(),
        names: z.array(z.string()),
        status: z.enum(["downloaded", "active", "superseded"]),
        created_at: timestamp,
        deployed_at: timestamp.nullable(),
      }),
    ),
  })
  .openapi("CertificateState");

const EventSchema = z
  .object({
    at: timestamp,
    from: z.enum(phases),
    to: z.enum(phases),
    status: z.enum(tlsStatuses),
    reason: z.string(),
    error_code: z.enum(errorCodes).nullable(),
  })
  .openapi("CertificateEvent");

const routes = {
  check: createRoute({
    method: "post",
    path: "/{domain}/certificate/check",
    summary: "Check whether the domain can have a managed certificate now",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(EligibilitySchema), "Each check with what it found and the fix"),
      ...errorResponses(400, 401, 403, 404, 429),
    },
  }),
  enable: createRoute({
    method: "post",
    path: "/{domain}/certificate/enable",
    summary: "Turn managed HTTPS on and start issuance",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(
        resultsOf(CertificateStateSchema),
        "Issuance has started (or was already under way)",
      ),
      ...errorResponses(400, 401, 403, 404, 422, 429, 503),
    },
  }),
  state: createRoute({
    method: "get",
    path: "/{domain}/certificate",
    summary: "The certificate's lifecycle state and history",
    request: { params: DomainParam },
    responses: {
      200: jsonContent(resultsOf(CertificateStateSchema), "State and history"),
      ...errorResponses(400, 401, 403, 404, 503),
    },
  }),
  events: createRoute({
    method: "get",
    path: "/{domain}/certificate/events",
    summary: "The certificate lifecycle's transitions, newest first",
    request: {
      params: DomainParam,
      query: z.object({
        limit: pageLimit(500),
      }),
    },
    responses: {
      200: jsonContent(resultsOf(z.array(EventSchema)), "Transitions"),
      ...errorResponses(400, 401, 403, 404, 503),
    },
  }),
};

const presentCheck = (check: EligibilityCheck): z.infer<typeof CheckSchema> => ({
  name: check.name,
  status: check.status,
  found: check.found,
  expected: check.expected,
  detail: check.detail,
  fix: check.fix,
  error_code: check.errorCode,
  action_by: check.actionBy,
});

type View = Awaited<ReturnType<ReturnType<typeof domainCertificateStub>["view"]>>;

function presentState(domain: string, view: View): z.infer<typeof CertificateStateSchema> {
  return {
    domain,
    status: view.status,
    step: view.step,
    stuck: view.stuck,
    progress_at: view.progressAt,
    next_attempt_at: view.nextRunAt,
    failed_attempts: view.failures,
    error: view.error && {
      code: view.error.code,
      detail: view.error.detail,
      action_by: view.error.actionBy,
      at: view.error.at,
    },
    certificate: view.current && {
      serial: view.current.serial,
      issued_at: view.current.issuedAt,
      not_before: view.current.notBefore,
      not_after: view.current.notAfter,
      renews_at: view.current.renewsAt,
      chain_pem: view.chainPem,
      renewal_info: view.current.ari && {
        window_start: view.current.ari.windowStart,
        window_end: view.current.ari.windowEnd,
        selected: view.current.ari.selected,
        explanation_url: view.current.ari.explanationUrl,
        checked_at: view.current.ari.checkedAt,
      },
    },
    history: view.history.map((h) => ({
      serial: h.serial,
      not_before: h.notBefore,
      not_after: h.notAfter,
      issuer: h.issuer,
      names: h.names,
      status: h.status,
      created_at: h.createdAt,
      deployed_at: h.deployedAt,
    })),
  };
}

export function certificateRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.openapi(routes.check, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    const report = await eligibilityOf(c.env, domain);
    return c.json(
      { results: { eligible: report.eligible, checks: report.checks.map(presentCheck) } },
      200,
    );
  });

  app.openapi(routes.enable, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    if (!domain.verified) {
      throw new ApiError(422, {
        message: "domain not verified",
        code: sparkPostCodes.invalidData,
        description: `Verify ${domain.domain} first (POST /api/v1/tracking-domains/${domain.domain}/verify): its CNAME must point at ${domain.region === "eu" ? "the EU" : "the US"} V2 endpoint.`,
        param: "domain",
        value: domain.domain,
      });
    }
    if (domain.tls.status !== "valid") await requireOrderBudget(c.env, domain.accountId);
    const report = await eligibilityOf(c.env, domain);
    if (report.checks.some((check) => check.status === "fail"))
      throw notEligible(domain.domain, report);
    if (domain.httpsMode !== "managed") {
      await updateTrackingDomain(c.env.DB, domain, {
        httpsMode: "managed",
        tls: awaitingCertificate,
      });
      await noteDomainEvent(
        c.env,
        domain,
        `HTTPS mode changed from ${domain.httpsMode} to managed through the API.`,
      );
    }
    const view = await startIssuance(c.env, domain);
    return c.json({ results: presentState(domain.domain, view) }, 200);
  });

  app.openapi(routes.state, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    const view = await withCertificateObject(c.env, domain, (object) => object.view());
    return c.json({ results: presentState(domain.domain, view) }, 200);
  });

  app.openapi(routes.events, async (c) => {
    const domain = await ownedDomain(c, c.req.valid("param").domain);
    const limit = c.req.valid("query").limit ?? 100;
    const events = await withCertificateObject(c.env, domain, (object) => object.events(limit));
    return c.json(
      {
        results: events.map((e) => ({
          at: e.at,
          from: e.from,
          to: e.to,
          status: e.status,
          reason: e.reason,
          error_code: e.errorCode,
        })),
      },
      200,
    );
  });

  return app;
}
