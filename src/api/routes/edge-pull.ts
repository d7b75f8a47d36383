// /internal/v1: the edge-pull endpoint, for TLS terminators only (scripts/tls-edge.ts). Served on
// API hosts, never on tracking hosts; every request carries EDGE_PULL_TOKEN as a bearer token
// (compared in constant time). It hands out private keys, so it answers nobody else: without the
// secret configured it is switched off (503).
//   GET /certificates?since=N   changes after cursor N (without since: the cursor to start from)
//   GET /certificates/{domain}  the chain and key the domain serves (?serial=S: that serial, while
//                               it is being deployed)
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { domainCertificateStub } from "../../../durable-objects/stubs";
import { changesSince } from "../../deploy/edge-pull";
import { regionOf } from "../../domains/repository";
import { type KeyRing, parseKeyRing, unwrapKey } from "../../pki/key-wrap";
import { toPem } from "../../pki/pem";
import { sameSecret } from "../../util/constant-time";
import { minimumEdgeTokenLength } from "../../util/edge-relay";
import type { AppEnv } from "../context";
import { ApiError, notFound, sparkPostCodes } from "../errors";

const maxPage = 1000;

const requireEdgeToken = createMiddleware<AppEnv>(async (c, next) => {
  const secret = c.env.EDGE_PULL_TOKEN ?? "";
  if (secret.length < minimumEdgeTokenLength) {
    throw new ApiError(503, {
      message: "edge pull is not configured",
      code: sparkPostCodes.unavailable,
      description: `Set the EDGE_PULL_TOKEN secret (${minimumEdgeTokenLength} characters or more) to serve certificates to TLS terminators.`,
    });
  }
  const header = c.req.header("authorization") ?? "";
  const presented = /^Bearer (\S+)$/i.exec(header)?.[1];
  if (!presented || !sameSecret(presented, secret)) {
    throw new ApiError(
      401,
      {
        message: "unauthorized",
        code: sparkPostCodes.permissionDenied,
        description: presented
          ? "The edge token is not valid."
          : "No edge token: send 'Authorization: Bearer <EDGE_PULL_TOKEN>'.",
      },
      { "www-authenticate": 'Bearer realm="tracking-edge internal"' },
    );
  }
  c.header("cache-control", "no-store");
  await next();
});

const keyRings = new WeakMap<object, Promise<KeyRing>>();
function keyRingOf(env: Env): Promise<KeyRing> {
  let ring = keyRings.get(env);
  if (!ring) {
    ring = parseKeyRing(env.KEY_ENCRYPTION_KEYS);
    ring.catch(() => keyRings.delete(env));
    keyRings.set(env, ring);
  }
  return ring;
}

function nonNegativeInteger(
  param: string,
  value: string | undefined,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) > max) {
    throw new ApiError(400, {
      message: `invalid ${param}`,
      code: sparkPostCodes.invalidParams,
      description: `${param} must be a whole number from 0 to ${max}`,
      param,
      value,
    });
  }
  return Number(value);
}

export function edgePullRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", requireEdgeToken);

  app.get("/certificates", async (c) => {
    const since = nonNegativeInteger("since", c.req.query("since"), Number.MAX_SAFE_INTEGER);
    const limit = nonNegativeInteger("limit", c.req.query("limit"), maxPage) ?? maxPage;
    const page = await changesSince(c.env.DB, since ?? null, Math.max(limit, 1));
    return c.json({
      results: {
        changes: page.changes,
        cursor: page.cursor,
        more: page.more,
        reset: page.reset,
      },
    });
  });

  app.get("/certificates/:domain", async (c) => {
    const domain = c.req.param("domain").toLowerCase().replace(/\.$/, "");
    const serial = c.req.query("serial");
    const region = await regionOf(c.env.DB, domain);
    const served = region
      ? await domainCertificateStub(c.env, domain, region).edgeCertificate(serial)
      : null;
    if (!served) {
      throw notFound(
        serial
          ? `${domain} is not serving or deploying certificate ${serial}.`
          : `No certificate is served for ${domain}.`,
      );
    }
    const key = await unwrapKey(await keyRingOf(c.env), served.wrappedKey, domain);
    return c.json({
      results: {
        domain,
        serial: served.serial,
        not_after: served.notAfter,
        certificate_chain: served.chainPem,
        private_key: toPem("PRIVATE KEY", key),
      },
    });
  });
  return app;
}
