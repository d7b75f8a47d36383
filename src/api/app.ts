// The API host's Hono app: /api/v1 with API-key auth, rate and request limits, one error
// handler, 404s and 405s in the error shape, and the OpenAPI document generated from the routes'
// own schemas.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hono } from "hono";
import type { Grant } from "../accounts/grants";
import { limitLookups, requireApiKey, requireGrant } from "./auth";
import type { AppEnv } from "./context";
import { ApiError, errorResponse, handleError, sparkPostCodes } from "./errors";
import { accountRoutes } from "./routes/account";
import { apiKeyRoutes } from "./routes/api-keys";
import { certificateRoutes } from "./routes/certificate";
import { edgePullRoutes } from "./routes/edge-pull";
import { eventRoutes } from "./routes/events";
import { sendingDomainRoutes } from "./routes/sending-domains";
import { subaccountRoutes } from "./routes/subaccounts";
import { trackingDomainRoutes } from "./routes/tracking-domains";
import { trackingLinkRoutes } from "./routes/tracking-links";
import { webhookRoutes } from "./routes/webhooks";
import { limitBodySize, nameUnreadQuery, requireJsonBody, validationHook } from "./validation";

export function createApiApp(): OpenAPIHono<AppEnv> {
  // strict: false: /tracking-domains/ is /tracking-domains, as SparkPost treats a trailing slash.
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });
  app.onError(handleError);
  app.notFound((c) =>
    errorResponse(
      c,
      new ApiError(404, {
        message: "invalid URI",
        code: sparkPostCodes.invalidUri,
        description: `There is no ${c.req.method} ${c.req.path}; see /api/v1/openapi.json`,
      }),
    ),
  );

  const v1 = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  v1.use("*", limitBodySize, requireJsonBody, nameUnreadQuery);
  // Each resource and the grants its reads and its changes need (src/accounts/grants.ts).
  const resources: [string, Grant, Grant][] = [
    ["/account", "account/view", "account/view"],
    ["/api-keys", "api_keys/manage", "api_keys/manage"],
    ["/tracking-domains", "tracking_domains/view", "tracking_domains/manage"],
    ["/subaccounts", "subaccounts/view", "subaccounts/manage"],
    ["/sending-domains", "sending_domains/view", "sending_domains/manage"],
    ["/tracking-links", "tracking_links/create", "tracking_links/create"],
    ["/events", "message_events/view", "message_events/view"],
    ["/webhooks", "webhooks/view", "webhooks/modify"],
  ];
  for (const [resource, read, change] of resources) {
    // "/x/*" matches "/x" itself too: one registration, so a request is authenticated once.
    v1.use(`${resource}/*`, requireApiKey, requireGrant(read, change));
  }
  v1.use("/tracking-domains/:domain/verify", limitLookups);
  v1.use("/tracking-domains/:domain/certificate/check", limitLookups);
  v1.use("/tracking-domains/:domain/certificate/enable", limitLookups);
  v1.use("/webhooks/:id/validate", limitLookups);
  v1.route("/account", accountRoutes());
  v1.route("/api-keys", apiKeyRoutes());
  v1.route("/tracking-domains", trackingDomainRoutes());
  v1.route("/tracking-domains", certificateRoutes());
  v1.route("/subaccounts", subaccountRoutes());
  v1.route("/sending-domains", sendingDomainRoutes());
  v1.route("/tracking-links", trackingLinkRoutes());
  v1.route("/events", eventRoutes());
  v1.route("/webhooks", webhookRoutes());
  v1.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "apiKey",
    in: "header",
    name: "Authorization",
    description: "An API key, bare or as 'Bearer <key>'",
  });
  v1.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: "tracking-edge API",
      version: "1",
      description:
        "Tracking domains with managed HTTPS; SparkPost-compatible where SparkPost has the same resource.",
    },
    servers: [{ url: new URL("/api/v1", c.req.url).toString() }],
    security: [{ apiKey: [] }],
  }));
  app.route("/api/v1", v1);
  app.route("/internal/v1", edgePullRoutes());
  answerWrongMethods(app);
  return app;
}

/**
 * For every path the app serves, a request with a method it does not serve gets a 405 that lists
 * the allowed ones, instead of a 404 that suggests the path is wrong.
 */
function answerWrongMethods(app: Hono<AppEnv>): void {
  const allowed = new Map<string, Set<string>>();
  for (const { path, method } of app.routes) {
    if (method === "ALL") continue;
    const methods = allowed.get(path) ?? new Set<string>();
    methods.add(method);
    if (method === "GET") methods.add("HEAD");
    allowed.set(path, methods);
  }
  for (const [path, methods] of allowed) {
    const allow = [...methods].join(", ");
    app.all(path, (c) =>
      errorResponse(
        c,
        new ApiError(
          405,
          {
            message: "invalid HTTP method",
            code: sparkPostCodes.invalidMethod,
            description: `${c.req.method} is not allowed here; use ${allow}`,
          },
          { allow },
        ),
      ),
    );
  }
}
