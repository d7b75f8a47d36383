// HTTP-01 at the edge (RFC 8555 §8.3): GET /.well-known/acme-challenge/{token} on a tracking host
// answers with the key authorization its certificate object holds for that token, over HTTP and
// HTTPS. The object is the authority (strongly consistent while the CA validates from several
// places at once). Anything else: 404, with nothing that reveals whether the host is ours.
import { domainCertificateStub } from "../../durable-objects/stubs";
import type { Config } from "../config";
import { normalizeDomainName } from "../domains/name";
import { regionOf } from "../domains/repository";
import type { RequestTarget } from "../util/request-target";

export const challengePrefix = "/.well-known/acme-challenge/";

/** Tokens are base64url (RFC 8555 §8.1), at least 128 bits; bound the length against abuse. */
const tokenPattern = /^[A-Za-z0-9_-]{22,128}$/;

const notFound = () =>
  new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });

export async function answerHttp01(
  request: Request,
  target: RequestTarget,
  env: Env,
  config: Config,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") return notFound();
  const token = target.path.slice(challengePrefix.length);
  const host = normalizeDomainName(target.host, {
    extraPublicSuffixes: config.extraPublicSuffixes,
  });
  if (!tokenPattern.test(token) || !host.ok) return notFound();
  const region = await regionOf(env.DB, host.domain);
  if (!region) return notFound();
  const keyAuthorization = await domainCertificateStub(env, host.domain, region).challenge(token);
  if (!keyAuthorization) return notFound();
  return new Response(request.method === "HEAD" ? null : keyAuthorization, {
    headers: { "content-type": "application/octet-stream", "cache-control": "no-store" },
  });
}
