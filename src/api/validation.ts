// Request checks that come before any handler: JSON bodies only, of a bounded size, and the
// zod hook that turns a schema failure into errors naming each field.
import type { Hook } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./context";
import { ApiError, errorResponse, sparkPostCodes, validationError } from "./errors";
import { ignoredFields, ignoredHeaderValue } from "./ignored-fields";

export const maxBodyBytes = 64 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: the hook serves every route, whatever its input type
export const validationHook: Hook<any, AppEnv, any, any> = async (result, c) => {
  if (result.success) {
    await nameIgnoredFields(c, result.target, result.data);
    // JSON can carry a lone surrogate ("\ud800"), which no stored or sent text can hold.
    const path = illFormedStringAt(result.data);
    if (path !== undefined) {
      const param = path || result.target;
      throw new ApiError(result.target === "json" ? 422 : 400, {
        message: `invalid ${param}`,
        code: sparkPostCodes.invalidData,
        description: `${param} holds a lone UTF-16 surrogate, which is not text: send well-formed Unicode`,
        param,
      });
    }
    return;
  }
  // zod-validator passes the raw input along as `data`, which zod-openapi's type leaves out.
  const input = "data" in result ? result.data : undefined;
  throw validationError(result.error, input, result.target);
};

/** The response header that names the request's fields and query parameters we ignored. */
export const ignoredFieldsHeader = "x-ignored-fields";

/**
 * As SparkPost's API conventions have it, a field or query parameter we do not know is ignored,
 * not refused (clients that send more keep working); the answer names it in X-Ignored-Fields, so
 * that a typo stays visible. The schemas drop what they do not know, so what the request held and
 * the parsed value lacks is what was ignored.
 */
async function nameIgnoredFields(c: Context<AppEnv>, target: string, parsed: unknown) {
  let ignored: string[];
  if (target === "json") ignored = ignoredFields(await c.req.json().catch(() => undefined), parsed);
  else if (target === "query")
    ignored = ignoredFields(c.req.query(), parsed).map((name) => `?${name}`);
  else return;
  noteIgnored(c, ignored);
}

/**
 * Query parameters sent to a route that reads none are all ignored: named once the answer is
 * made (a route with a query schema names its unknown ones in the hook above).
 */
export const nameUnreadQuery = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (c.req.valid("query" as never) !== undefined) return;
  const names = Object.keys(c.req.query());
  if (names.length === 0) return;
  const all = [...(c.get("ignoredFields") ?? []), ...names.map((name) => `?${name}`)];
  c.res.headers.set(ignoredFieldsHeader, ignoredHeaderValue(all));
});

/** Names what the request held and the API ignored, in X-Ignored-Fields. */
export function noteIgnored(c: Context<AppEnv>, ignored: readonly string[]): void {
  if (ignored.length === 0) return;
  const all = [...(c.get("ignoredFields") ?? []), ...ignored];
  c.set("ignoredFields", all);
  c.header(ignoredFieldsHeader, ignoredHeaderValue(all));
}

/** The path of the first string (key or value) in `value` that is not well-formed Unicode. */
function illFormedStringAt(value: unknown, path = ""): string | undefined {
  if (typeof value === "string") return value.isWellFormed() ? undefined : path;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!key.isWellFormed()) return at;
    const found = illFormedStringAt(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Routes that take larger bodies than the rest: HTML to rewrite is a whole email. */
export const largeBodyPaths = ["/api/v1/tracking-links/html"];
export const maxLargeBodyBytes = 2 * 1024 * 1024;

const tooLarge = (limit: number) => (c: Context) =>
  errorResponse(
    c,
    new ApiError(413, {
      message: "request body too large",
      code: sparkPostCodes.invalidData,
      description: `The request body is larger than ${limit} bytes`,
    }),
  );

const smallBodies = bodyLimit({ maxSize: maxBodyBytes, onError: tooLarge(maxBodyBytes) });
const largeBodies = bodyLimit({ maxSize: maxLargeBodyBytes, onError: tooLarge(maxLargeBodyBytes) });

export const limitBodySize = createMiddleware<AppEnv>((c, next) =>
  (largeBodyPaths.includes(c.req.path) ? largeBodies : smallBodies)(c, next),
);

/** A request that carries a body must say it is JSON; a body-less POST (such as verify) is fine. */
export const requireJsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const hasBody =
    c.req.header("transfer-encoding") !== undefined ||
    Number(c.req.header("content-length") ?? 0) > 0;
  const type = c.req.header("content-type") ?? "";
  if (hasBody && !/^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new ApiError(415, {
      message: "unsupported media type",
      code: sparkPostCodes.invalidData,
      description: `The request body must be JSON, sent with Content-Type: application/json${type ? ` (not ${type})` : ""}`,
    });
  }
  await next();
});
