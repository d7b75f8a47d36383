// Clicks and opens on tracking hosts: /f/{token} redirects to the link's target, /q/{token}
// answers a 1×1 GIF. The token is verified locally (HMAC), the event goes to the Queue without
// delaying the answer, and nothing here touches D1 or a Durable Object. Anything not signed for
// this host and path is a 404 without Location: never an open redirect.

import type { KeyRing } from "../pki/key-ring";
import { type EngagementEvent, ipPrefix } from "./events";
import { type LinkContent, type LinkKind, parseSigningRing, verifyToken } from "./link-token";

export const clickPrefix = "/f/";
export const openPrefix = "/q/";

/** The smallest transparent GIF: 1×1, 43 bytes. */
const pixel = Uint8Array.from(
  "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b".match(
    /../g,
  ) ?? [],
  (h) => Number.parseInt(h, 16),
);

const noStore = { "cache-control": "no-store, private", "x-content-type-options": "nosniff" };

let cachedRing: { json: string; ring: Promise<KeyRing> } | undefined;

/** The signing ring, parsed once per isolate (and again only when the secret changes). */
export function signingRing(json: string | undefined): Promise<KeyRing> {
  if (cachedRing?.json !== json) {
    const ring = parseSigningRing(json);
    cachedRing = { json: json ?? "", ring };
    ring.catch(() => {
      cachedRing = undefined;
    });
  }
  return (cachedRing as { ring: Promise<KeyRing> }).ring;
}

const notFound = () =>
  new Response("Not found\n", {
    status: 404,
    headers: { "content-type": "text/plain", ...noStore },
  });

export async function handleTrackingLink(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  kind: LinkKind,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD", ...noStore },
    });
  }
  const url = new URL(request.url);
  const host = url.hostname.toLowerCase();
  const token = url.pathname.slice((kind === "click" ? clickPrefix : openPrefix).length);
  let ring: KeyRing;
  try {
    ring = await signingRing(env.LINK_SIGNING_KEYS);
  } catch (error) {
    // A broken LINK_SIGNING_KEYS is ours to fix; the link may work later, so not a 404.
    console.error(JSON.stringify({ event: "config_error", message: (error as Error).message }));
    return new Response("Service unavailable\n", {
      status: 503,
      headers: { "retry-after": "60", ...noStore },
    });
  }
  const content = await verifyToken(ring, kind, host, token);
  if (!content) return notFound();
  ctx.waitUntil(
    record(env, engagementEvent(request, kind, host, url.protocol === "https:", content)),
  );
  const body = request.method === "HEAD" ? null : kind === "click" ? null : pixel;
  if (kind === "click") {
    return new Response(body, {
      status: 302,
      headers: { location: content.url as string, "referrer-policy": "no-referrer", ...noStore },
    });
  }

  return new Response(body, {
    headers: {
      "content-type": "image/gif",
      "content-length": String(pixel.byteLength),
      ...noStore,
    },
  });
}

function engagementEvent(
  request: Request,
  kind: LinkKind,
  host: string,
  secure: boolean,
  content: LinkContent,
): EngagementEvent {
  return {
    id: crypto.randomUUID(),
    type: kind,
    occurredAt: new Date().toISOString(),
    trackingDomain: host,
    accountId: content.accountId,
    subaccountId: content.subaccountId,
    messageId: content.messageId ?? null,
    recipientId: content.recipientId ?? null,
    linkName: content.linkName ?? null,
    targetUrl: content.url ?? null,
    userAgent: request.headers.get("user-agent")?.slice(0, 512) ?? null,
    ipPrefix: ipPrefix(request.headers.get("cf-connecting-ip")),
    secure,
  };
}

async function record(env: Env, event: EngagementEvent): Promise<void> {
  try {
    await env.ENGAGEMENT_EVENTS.send(event);
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "engagement_event_not_queued",
        type: event.type,
        domain: event.trackingDomain,
        message: (error as Error).message,
      }),
    );
  }
}
