// Renewal information for Pebble, which has none: a stand-in that serves Pebble's own directory
// with a `renewalInfo` URL added, and answers GET {renewalInfo}/{certID} as RFC 9773 says. All
// other requests go to Pebble itself (the directory's URLs are Pebble's). Tests choose the window
// through a small control API; by default there is none (404, ask again in 12 hours), and the
// lifecycle falls back to its own rule. Node only.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A window relative to the first time the CA is asked about a certificate. */
export interface WindowPolicy {
  startInSeconds: number;
  endInSeconds: number;
}

export interface AriDirectory {
  directory: string;
  close: () => Promise<void>;
}

const certIdPattern = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export async function startAriDirectory(
  upstreamDirectory: string,
  port: number,
): Promise<AriDirectory> {
  let policy: WindowPolicy | null = null;
  const windows = new Map<string, { start: string; end: string }>();
  const asked: string[] = [];
  let base = "";

  const json = (
    res: import("node:http").ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      "content-type": status >= 400 ? "application/problem+json" : "application/json",
      ...headers,
    });
    res.end(JSON.stringify(body));
  };

  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", base).pathname;
    try {
      if (req.method === "GET" && path === "/dir") {
        const upstream = (await (await fetch(upstreamDirectory)).json()) as Record<string, unknown>;
        return json(res, 200, { ...upstream, renewalInfo: `${base}/renewal-info` });
      }
      if (path.startsWith("/renewal-info/")) {
        if (req.method !== "GET" || req.headers.authorization) {
          return json(res, 405, {
            type: "urn:ietf:params:acme:error:malformed",
            detail: "renewalInfo is an unauthenticated GET",
          });
        }
        const id = path.slice("/renewal-info/".length);
        if (!certIdPattern.test(id))
          return json(res, 400, {
            type: "urn:ietf:params:acme:error:malformed",
            detail: `${id} is not a certificate ID`,
          });
        asked.push(id);
        let window = windows.get(id);
        if (!window && policy) {
          const now = Date.now();
          window = {
            start: new Date(now + policy.startInSeconds * 1000).toISOString(),
            end: new Date(now + policy.endInSeconds * 1000).toISOString(),
          };
          windows.set(id, window);
        }
        if (!window)
          return json(
            res,
            404,
            { type: "urn:ietf:params:acme:error:malformed", detail: "no renewal information" },
            { "retry-after": "43200" },
          );
        return json(
          res,
          200,
          { suggestedWindow: window, explanationURL: `${base}/docs/renewal-window` },
          { "retry-after": "21600" },
        );
      }
      // The control API for tests.
      if (req.method === "PUT" && path === "/control/policy") {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        policy = JSON.parse(Buffer.concat(chunks).toString() || "null") as WindowPolicy | null;
        return json(res, 200, { policy });
      }
      if (req.method === "GET" && path === "/control/asked")
        return json(res, 200, { asked, windows: Object.fromEntries(windows) });
      return json(res, 404, {
        type: "urn:ietf:params:acme:error:malformed",
        detail: `no resource at ${path}`,
      });
    } catch (error) {
      return json(res, 502, {
        type: "urn:ietf:params:acme:error:serverInternal",
        detail: (error as Error).message,
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    directory: `${base}/dir`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
