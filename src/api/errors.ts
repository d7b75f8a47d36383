// The API's errors in SparkPost's shape: {"errors": [{message, code, description, param?, value?}]}
// with an HTTP status that says whose move it is. Known failures become ApiErrors; anything else
// is logged and answered with a generic 500 that carries no internals.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { ConfigError } from "../config";
import type { EligibilityReport } from "../issuance/eligibility";
import { KeyRingError } from "../pki/key-ring";
import { logProblem } from "../util/log";
import { ObjectUnavailableError } from "../workflows/certificate-lifecycle";

/** SparkPost's extended error codes, where one fits; see its API reference. */
export const sparkPostCodes = {
  permissionDenied: "1100",
  invalidUri: "1101",
  invalidMethod: "1102",
  invalidParams: "1200",
  invalidData: "1300",
  invalidCombination: "1301",
  missingField: "1400",
  notFound: "1600",
  conflict: "1602",
  /** SparkPost's "restricted domain": a name the service will not take (one of its own). */
  restrictedDomain: "7000",
  /** Ours: SparkPost answers 429 without documenting a code; 11xx is its request-level family. */
  tooManyRequests: "1103",
  unavailable: "1900",
  internal: "1902",
} as const;

export interface ApiErrorDetail {
  message: string;
  code: string;
  description?: string;
  param?: string;
  value?: unknown;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly errors: ApiErrorDetail[];

  constructor(
    readonly status: ContentfulStatusCode,
    errors: ApiErrorDetail | ApiErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    const list = Array.isArray(errors) ? errors : [errors];
    super(list.map((e) => e.message).join("; "));
    this.errors = list;
  }
}

export const notFound = (description: string): ApiError =>
  new ApiError(404, { message: "resource not found", code: sparkPostCodes.notFound, description });

export const forbidden = (description: string, param?: string): ApiError =>
  new ApiError(403, {
    message: "forbidden",
    code: sparkPostCodes.permissionDenied,
    description,
    ...(param ? { param } : {}),
  });

/** A 429 for a budget the account used up: which limit, and when it is whole again. */
export const overBudget = (description: string, resetsAt: Date, now = new Date()): ApiError =>
  new ApiError(
    429,
    { message: "too many requests", code: sparkPostCodes.tooManyRequests, description },
    { "retry-after": String(Math.max(1, Math.ceil((resetsAt.getTime() - now.getTime()) / 1000))) },
  );

/** SparkPost's words for its codes, as its API reference gives them. */
export const sparkPostMessages = {
  invalidData: "invalid data format/type",
  missingField: "required field is missing",
} as const;

/** A field that cannot be what it is: SparkPost's 1300, with `param` and a description naming it. */
export const invalidField = (param: string, description: string, value?: unknown): ApiError =>
  new ApiError(422, {
    message: sparkPostMessages.invalidData,
    code: sparkPostCodes.invalidData,
    description,
    param,
    ...(value === undefined ? {} : { value }),
  });

export function errorResponse(c: Context, error: ApiError): Response {
  return c.json({ errors: error.errors }, error.status, error.headers);
}

/** The answer while the configuration is broken; logs which variable, tells the client nothing more. */
export function misconfigured(error: ConfigError): Response {
  logProblem("config_error", { message: error.message });
  const body = {
    errors: [
      {
        message: "service unavailable",
        code: sparkPostCodes.unavailable,
        description: "The service is not configured correctly; try again later.",
      },
    ],
  };
  return Response.json(body, { status: 503, headers: { "retry-after": "60" } });
}

/** Turns a zod failure on a request part into one error per problem, each naming its field. */
export function validationError(error: ZodError, input: unknown, target: string): ApiError {
  const details = error.issues.flatMap((issue): ApiErrorDetail[] => {
    const param = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        message: `unknown field ${qualified(param, key)}`,
        code: sparkPostCodes.invalidData,
        description: `${qualified(param, key)} is not a field of this request`,
        param: qualified(param, key),
      }));
    }
    if (param === "" && target === "json") {
      return [
        {
          message: "invalid request body",
          code: sparkPostCodes.invalidData,
          description: `The request body must be a JSON object: ${issue.message}`,
        },
      ];
    }
    const given = valueAt(input, issue.path);
    if (given === undefined) {
      return [
        {
          message: sparkPostMessages.missingField,
          code: sparkPostCodes.missingField,
          description: `${param} is required`,
          param,
        },
      ];
    }
    return [
      {
        message: target === "query" ? `invalid ${param}` : sparkPostMessages.invalidData,
        code: target === "query" ? sparkPostCodes.invalidParams : sparkPostCodes.invalidData,
        description: `${param}: ${issue.message}`,
        param,
        value: given,
      },
    ];
  });
  const status = target === "query" || target === "param" ? 400 : 422;
  return new ApiError(status, details);
}

const qualified = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The app's single error handler. */
export function handleError(error: Error, c: Context): Response {
  if (error instanceof ApiError) return errorResponse(c, error);
  if (error instanceof HTTPException && error.status < 500) {
    // Hono's own refusals, such as malformed JSON.
    const description = error.message || "The request could not be read";
    return errorResponse(
      c,
      new ApiError(error.status, {
        message: description.toLowerCase(),
        code: sparkPostCodes.invalidParams,
        description,
      }),
    );
  }
  if (error instanceof ConfigError) return misconfigured(error);
  if (error instanceof ObjectUnavailableError) {
    // Logged where it happened; every call that reaches an object is safe to repeat.
    return errorResponse(
      c,
      new ApiError(
        503,
        {
          message: "service unavailable",
          code: sparkPostCodes.unavailable,
          description: `The certificate lifecycle of ${error.domain} did not answer in time; try again in a few seconds. What this call changed before is kept, and repeating it is safe.`,
        },
        { "retry-after": "5" },
      ),
    );
  }
  // A key ring secret that is missing or malformed is configuration too (the message names the
  // variable, never key material).
  if (error instanceof KeyRingError) return misconfigured(new ConfigError(error.message));
  logProblem("unhandled_error", {
    path: c.req.path,
    name: error.name,
    message: error.message,
    stack: error.stack,
  });
  return errorResponse(
    c,
    new ApiError(500, {
      message: "internal error",
      code: sparkPostCodes.internal,
      description: "Something went wrong on our side; try again later.",
    }),
  );
}

/** A 422 listing every check that stands in the way, each with its fix. */
export function notEligible(domain: string, report: EligibilityReport): ApiError {
  const failing = report.checks.filter((c) => c.status !== "pass");
  return new ApiError(
    422,
    failing.map((check) => ({
      message: `not eligible for managed HTTPS: ${check.errorCode ?? check.name}`,
      code: sparkPostCodes.invalidData,
      description: `${check.detail}${check.fix ? ` Fix: ${check.fix}` : ""}`,
      param: "domain",
      value: domain,
    })),
  );
}
