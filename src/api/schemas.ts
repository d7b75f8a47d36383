// Schemas every route shares: the error envelope and the wrappers of OpenAPI responses.
import { z } from "@hono/zod-openapi";

export const ErrorsSchema = z
  .object({
    errors: z.array(
      z.object({
        message: z.string(),
        code: z.string().openapi({ description: "SparkPost extended error code", example: "1300" }),
        description: z.string().optional(),
        param: z.string().optional().openapi({ description: "The request field at fault" }),
        value: z.unknown().optional(),
      }),
    ),
  })
  .openapi("Errors");

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

export const resultsOf = <T extends z.ZodType>(schema: T) => z.object({ results: schema });

/** A required JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});

/** The `?limit=` of a list: 1 to `max`, 100 when absent. */
export const pageLimit = (max: number) =>
  z.coerce.number().int().min(1).max(max).optional().openapi({ description: "Default 100" });

export const errorResponses = (
  ...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503)[]
) =>
  Object.fromEntries(
    statuses.map((status) => [status, jsonContent(ErrorsSchema, errorDescriptions[status])]),
  );

const errorDescriptions = {
  400: "The request is malformed (JSON, query or headers)",
  401: "No API key, or not a valid one",
  403: "The key lacks the grant this needs, may not be used from this address, or may not act for this subaccount",
  404: "No such resource in this account",
  409: "The resource already exists",
  413: "The request body is too large",
  415: "The request body is not JSON",
  422: "A field is missing or invalid; `param` names it",
  429: "Over the account's limit of DNS and HTTPS checks a minute; see Retry-After",
  503: "The service is unavailable",
} as const;
