// /api/v1/account: what the caller's account is, and where its tracking domains must point.
// The endpoints are the deployment's, or the account's own V2 endpoint that an operator set
// (npm run account:endpoint); no API key can change them, so PUT and PATCH are refused with 403.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { loadConfig } from "../../config";
import { endpointsOf, regions } from "../../domains/model";
import type { AppEnv } from "../context";
import { forbidden } from "../errors";
import { errorResponses, jsonContent, resultsOf } from "../schemas";
import { validationHook } from "../validation";

const AccountSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    own_v2_endpoint: z
      .string()
      .nullable()
      .openapi({ description: "Set by an operator for enterprise accounts; null otherwise" }),
    endpoints: z.record(
      z.enum(regions),
      z.object({ v2: z.string(), standard: z.string() }).openapi({
        description: "CNAME targets: v2 supports managed HTTPS, standard is HTTP only",
      }),
    ),
  })
  .openapi("Account");

const routes = {
  retrieve: createRoute({
    method: "get",
    path: "/",
    summary: "Retrieve the account and its CNAME targets",
    responses: {
      200: jsonContent(resultsOf(AccountSchema), "The account"),
      ...errorResponses(400, 401, 403),
    },
  }),
};

export function accountRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(routes.retrieve, async (c) => {
    const auth = c.get("auth");
    const row = await c.env.DB.prepare("SELECT id, name, v2_endpoint FROM accounts WHERE id = ?")
      .bind(auth.accountId)
      .first<{ id: number; name: string; v2_endpoint: string | null }>();
    if (!row) throw new Error(`account ${auth.accountId} of a valid key is missing`);
    const config = loadConfig(c.env);
    const endpoints = Object.fromEntries(
      regions.map((region) => [
        region,
        endpointsOf({ region, accountEndpoint: row.v2_endpoint }, config.endpoints),
      ]),
    ) as z.infer<typeof AccountSchema>["endpoints"];
    return c.json(
      { results: { id: row.id, name: row.name, own_v2_endpoint: row.v2_endpoint, endpoints } },
      200,
    );
  });
  const refuse = () => {
    throw forbidden(
      "The account's endpoints are set by the operator of this service, not through the API; ask them for an account-specific V2 endpoint.",
      "v2_endpoint",
    );
  };
  app.put("/", refuse);
  app.patch("/", refuse);
  return app;
}
