// Clicks and opens on tracking hosts: /f/{token} redirects to the link's target, /q/{token}
// answers a 1×1 GIF. The token is verified locally (HMAC), the domain's holder comes from the
// isolate's cache (holders.ts: D1 only when the cache has no recent answer), and the event goes
// to the Queue without delaying the answer. Anything not signed for this host and path, or minted
// by an account that no longer holds the domain, is a 404 without Location: never an open
// redirect.

import type { Config } from "../config";
import { base64Url } from "../util/encoding";
import { logProblem, messageOf } from "../util/log";
import type { RequestTarget } from "../util/request-target";
import { type EngagementEvent, ipPrefix } from "./events";
import { cachedHolder, type Holder, holdsLink, lookUpHolder } from "./holders";
import {
  type LinkContent,
  type LinkKind,
  locationOf,
  parseSigningRing,
  type SigningRing,
  verifyToken,
} from "./link-token";
import { outboxFor } from "./outbox";

export const clickPrefix = "/f/";
export const openPrefix = "/q/";

/** The smallest transparent GIF: 1×1, 43 bytes. */
const pixel = Uint8Array.from(
  "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b".match(
    /../g,
  ) ?? [],
  (h) => Number.parseInt(h, 16),
);

const noStore = { "cache-control": "no-store, private" };

let cachedRing: { json: string | undefined; ring: SigningRing } | undefined;

/** The signing ring, parsed once per isolate (and again only when the secret changes). */
export function signingRing(json: string | undefined): SigningRing {
  const cached = cachedRing;
  if (cached && cached.json === json) return cached.ring;
  const ring = parseSigningRing(json);
  cachedRing = { json, ring };
  return ring;
}

const notFound = () =>
  new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain", ...noStore },
  });

/**
 * Synchronous while the isolate knows who holds the domain (nearly every click): nothing here
 * waits then, so the runtime need not schedule a promise.
 */
export function handleTrackingLink(
  request: Request,
  target: RequestTarget,
  env: Env,
  config: Config,
  ctx: ExecutionContext,
  kind: LinkKind,
): Response | Promise<Response> {
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return new Response("Method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD", ...noStore },
    });
  }
  const host = target.host;
  const token = target.path.slice((kind === "click" ? clickPrefix : openPrefix).length);
  let ring: SigningRing;
  try {
    ring = signingRing(env.LINK_SIGNING_KEYS);
  } catch (error) {
    // A broken LINK_SIGNING_KEYS is ours to fix; the link may work later, so not a 404.
    logProblem("config_error", { message: messageOf(error) });
    return new Response("Service unavailable\n", {
      status: 503,
      headers: { "retry-after": "60", ...noStore },
    });
  }
  // Verified first: only a link we signed for this host ever costs a lookup.
  const content = verifyToken(ring, kind, host, token);
  if (!content) return notFound();
  const now = Date.now();
  const holder = cachedHolder(env.DB, host, now, config.linkHolderCacheMs, ctx);
  if (holder !== undefined) return answerLink(request, target, env, ctx, kind, content, holder);
  return lookUpHolder(env.DB, host, now).then((looked) =>
    answerLink(request, target, env, ctx, kind, content, looked),
  );
}

function answerLink(
  request: Request,
  target: RequestTarget,
  env: Env,
  ctx: ExecutionContext,
  kind: LinkKind,
  content: LinkContent,
  holder: Holder | null,
): Response {
  // The account that minted the link no longer holds the domain (deleted, or claimed by its
  // owner): the link is dead, wherever it pointed.
  if (!holdsLink(holder, content)) return notFound();
  // Signed by us, but a link minted before targets were serialized may hold what no Location
  // header can: such a link is a 404, never a 500.
  const location = kind === "click" ? locationOf(content.url as string) : null;
  if (kind === "click" && location === null) return notFound();
  // An EU domain's events travel and are stored only in the EU (its queue, then DB_EU).
  const eu = holder?.region === "eu";
  outboxFor(eu ? env.ENGAGEMENT_EVENTS_EU : env.ENGAGEMENT_EVENTS, eu ? "eu" : "us").add(
    engagementEvent(request, kind, target.host, target.secure, content),
    ctx,
  );
  if (kind === "click") {
    return new Response(null, {
      status: 302,
      headers: { location: location as string, "referrer-policy": "no-referrer", ...noStore },
    });
  }
  return new Response(request.method === "HEAD" ? null : pixel, {
    headers: { "content-type": "image/gif", ...noStore },
  });
}

let isolateId: string | undefined;
let sequence = 0;

/**
 * A unique event id without a call into the runtime per click: a random id for this isolate
 * (drawn on first use, as randomness is not available at startup) and a counter.
 */
function nextEventId(): string {
  isolateId ??= base64Url(crypto.getRandomValues(new Uint8Array(16)));
  sequence++;
  return `${isolateId}.${sequence.toString(36)}`;
}

function engagementEvent(
  request: Request,
  kind: LinkKind,
  host: string,
  secure: boolean,
  content: LinkContent,
): EngagementEvent {
  const headers = request.headers;
  return {
    id: nextEventId(),
    type: kind,
    occurredAt: new Date().toISOString(),
    trackingDomain: host,
    accountId: content.accountId,
    subaccountId: content.subaccountId,
    messageId: content.messageId ?? null,
    recipientId: content.recipientId ?? null,
    linkName: content.linkName ?? null,
    targetUrl: content.url ?? null,
    userAgent: headers.get("user-agent")?.slice(0, 512) ?? null,
    ipPrefix: ipPrefix(headers.get("cf-connecting-ip")),
    secure,
  };
}
