// API-key authentication and the subaccount a request acts for (X-MSYS-SUBACCOUNT), as in
// SparkPost: a primary-account key may act for any of its subaccounts; a subaccount key only
// for its own. Missing or wrong keys are 401s that say what to send.
import { createMiddleware } from "hono/factory";
import { allowedFrom } from "../accounts/address-ranges";
import { apiKeyFromAuthorization, hashApiKey, looksLikeApiKey } from "../accounts/api-keys";
import { type Grant, holds } from "../accounts/grants";
import {
  type ApiKeyOwner,
  findApiKeyOwner,
  subaccountExists,
  touchApiKey,
} from "../accounts/repository";
import { logProblem, messageOf } from "../util/log";
import type { AppEnv } from "./context";
import { ApiError, forbidden, sparkPostCodes } from "./errors";

const unauthorized = (description: string) =>
  new ApiError(
    401,
    { message: "unauthorized", code: sparkPostCodes.permissionDenied, description },
    {
      "www-authenticate": 'Bearer realm="tracking-edge"',
    },
  );

export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  const key = apiKeyFromAuthorization(header);
  if (!key) {
    throw unauthorized(
      header
        ? "The Authorization header is not in a form we accept: send the API key itself, or 'Bearer <key>'."
        : "No API key: send your API key in the Authorization header.",
    );
  }
  const owner = looksLikeApiKey(key)
    ? await findApiKeyOwner(c.env.DB, await hashApiKey(key))
    : null;
  if (!owner) throw unauthorized("The API key is not valid: it may be mistyped or revoked.");
  // A suspended or terminated subaccount's own keys do nothing; the primary's still act for it.
  if (owner.subaccountStatus !== null && owner.subaccountStatus !== "active") {
    throw forbidden(
      `This API key belongs to subaccount ${owner.subaccountId}, which is ${owner.subaccountStatus}: its keys may not use the API until the primary account makes it active again.`,
    );
  }
  const callerIp = c.req.header("cf-connecting-ip");
  if (!allowedFrom(owner.validIps, callerIp)) {
    throw forbidden(
      `This API key may not be used from ${callerIp ?? "an unknown address"}: its valid_ips do not include it.`,
    );
  }

  c.set("auth", {
    accountId: owner.accountId,
    subaccountId: await subaccountInScope(c.env.DB, owner, c.req.header("x-msys-subaccount")),
    keyId: owner.keyId,
    keySubaccountId: owner.subaccountId,
    grants: owner.grants,
    validIps: owner.validIps,
  });
  const now = new Date();
  if (owner.lastUsedAt === null || Date.parse(owner.lastUsedAt) < now.getTime() - lastUsedStepMs) {
    c.executionCtx.waitUntil(
      touchApiKey(c.env.DB, owner.keyId, now).catch((error: unknown) =>
        logProblem("api_key_touch_failed", { message: messageOf(error) }),
      ),
    );
  }
  await next();
});

/**
 * The subaccount a request acts for: the key's own, or the one X-MSYS-SUBACCOUNT asks for when
 * the key may act for it (a primary key, and a subaccount of its account; 0 is the primary).
 */
async function subaccountInScope(
  db: D1Database,
  owner: ApiKeyOwner,
  requested: string | undefined,
): Promise<number | null> {
  if (requested === undefined) return owner.subaccountId;
  const id = /^\d{1,9}$/.test(requested.trim()) ? Number(requested.trim()) : Number.NaN;
  if (!Number.isInteger(id)) {
    throw new ApiError(400, {
      message: "invalid X-MSYS-SUBACCOUNT",
      code: sparkPostCodes.invalidParams,
      description: "X-MSYS-SUBACCOUNT must be a subaccount id (a whole number).",
      param: "X-MSYS-SUBACCOUNT",
      value: requested,
    });
  }
  if (owner.subaccountId !== null && id !== owner.subaccountId) {
    throw forbidden(
      `This API key belongs to subaccount ${owner.subaccountId} and cannot act for subaccount ${id}.`,
      "X-MSYS-SUBACCOUNT",
    );
  }
  if (id !== 0 && !(await subaccountExists(db, owner.accountId, id))) {
    throw forbidden(`Subaccount ${id} does not exist in this account.`, "X-MSYS-SUBACCOUNT");
  }
  return id;
}

/** How stale a key's last_used_at may get: one write an hour per key at most, never per call. */
const lastUsedStepMs = 60 * 60 * 1000;

/**
 * The grants a resource needs: `read` for GET and HEAD, `change` for everything else. A key
 * without it gets a 403 that names the grant.
 */
export const requireGrant = (read: Grant, change: Grant) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const method = c.req.method;
    const needed = method === "GET" || method === "HEAD" ? read : change;
    if (!holds(c.get("auth").grants, needed)) {
      throw forbidden(
        `This API key does not hold the ${needed} grant, which ${method} ${c.req.path} needs. ` +
          "A key with api_keys/manage can give it (PUT /api/v1/api-keys/{id}).",
      );
    }
    await next();
  });

/**
 * The calls that make us query DNS or open connections to a customer's proxy (verify,
 * certificate/check, certificate/enable, claim, an HTTPS mode change) count against the account,
 * whichever of its keys makes them: over the limit, a 429 that says which limit and when to retry.
 */
export async function countLookup(env: Env, accountId: number): Promise<void> {
  // Absent only where Miniflare is configured by hand without the binding (benchmarks).
  const limiter: RateLimit | undefined = env.LOOKUP_RATE_LIMIT;
  if (limiter && !(await limiter.limit({ key: `account:${accountId}` })).success) {
    throw new ApiError(
      429,
      {
        message: "too many requests",
        code: sparkPostCodes.tooManyRequests,
        description:
          "This account's DNS and HTTPS checks (verify, certificate/check, certificate/enable, claim, HTTPS mode changes, webhook validate) went over their limit for this minute; try again in a minute (Retry-After).",
      },
      { "retry-after": "60" },
    );
  }
}

export const limitLookups = createMiddleware<AppEnv>(async (c, next) => {
  await countLookup(c.env, c.get("auth").accountId);
  await next();
});
