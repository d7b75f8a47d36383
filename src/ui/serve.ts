// The management UI: static files (public/ui) from the assets binding, on API hosts only, with
// headers that keep them to themselves: no inline script, no framing, no referrer. The UI talks
// to /api/v1 like any other client.
export const uiPrefix = "/ui/";

const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

export async function serveUi(request: Request, url: URL, env: Env): Promise<Response> {
  if (url.pathname === "/") return Response.redirect(new URL(uiPrefix, url).toString(), 302);
  const asset = await env.ASSETS.fetch(request);
  const response = new Response(asset.body, asset);
  for (const [name, value] of Object.entries(securityHeaders)) response.headers.set(name, value);
  return response;
}
