// bench:redirect's middle row: the least a signed click link needs. It finds the token in the
// URL, verifies it as the product does (src/tracking/link-token.ts) and answers the same 302,
// but records nothing. Between the bare 302 and the product it shows, in the same run, what
// verifying a link costs and what recording the click costs.
import { parseSigningRing, type SigningRing, verifyToken } from "../../src/tracking/link-token";
import { requestTarget } from "../../src/util/request-target";

let ring: SigningRing | undefined;

export default {
  fetch(request: Request, env: { LINK_SIGNING_KEYS: string }): Response {
    ring ??= parseSigningRing(env.LINK_SIGNING_KEYS);
    const target = requestTarget(request.url);
    const content = target.path.startsWith("/f/")
      ? verifyToken(ring, "click", target.host, target.path.slice("/f/".length))
      : null;
    if (!content?.url) return new Response("Not found\n", { status: 404 });
    return new Response(null, {
      status: 302,
      headers: {
        location: content.url,
        "referrer-policy": "no-referrer",
        "cache-control": "no-store, private",
      },
    });
  },
};
