// A stand-in ACME server for what Pebble 2.4 lacks: renewal information (RFC 9773) and profiles
// (draft-ietf-acme-profiles). It is strict about the request shapes those documents define —
// signatures, nonces, URLs, field types, certificate IDs — and answers problems otherwise, so a
// client test passes only if the client sends what the specifications say. Node only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fromBase64Url, fromUtf8, utf8 } from "../../src/util/encoding";

export interface StandinRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
  payload?: Record<string, unknown>;
}

export interface StandinOptions {
  profiles?: Record<string, string>;
  /** Profiles the directory lists but the server refuses (to exercise invalidProfile). */
  refusedProfiles?: string[];
  /** Offer renewalInfo in the directory. */
  renewalInfo?: boolean;
}

export interface Standin {
  directory: string;
  requests: StandinRequest[];
  close: () => Promise<void>;
}

const certIdPattern = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export async function startStandin(options: StandinOptions = {}): Promise<Standin> {
  const requests: StandinRequest[] = [];
  const nonces = new Set<string>();
  const accounts = new Map<string, JsonWebKey>();
  let base = "";
  let counter = 0;

  const newNonce = () => {
    const nonce = `n${++counter}${Math.random().toString(36).slice(2)}`;
    nonces.add(nonce);
    return nonce;
  };
  const send = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      "content-type": status >= 400 ? "application/problem+json" : "application/json",
      "replay-nonce": newNonce(),
      ...headers,
    });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const problem = (res: ServerResponse, type: string, detail: string, status = 400) =>
    send(res, status, { type: `urn:ietf:params:acme:error:${type}`, detail, status });

  /** RFC 8555 §6.2-6.5: a flattened ES256 JWS, for this URL, with a nonce we gave, signed by the key it names. */
  async function verified(
    req: IncomingMessage,
    body: string,
    res: ServerResponse,
    allowJwk: boolean,
  ): Promise<{ payload: unknown; accountUrl?: string } | undefined> {
    if (req.headers["content-type"] !== "application/jose+json")
      return void problem(res, "malformed", "Content-Type must be application/jose+json");
    let jws: { protected: string; payload: string; signature: string };
    let header: { alg?: string; nonce?: string; url?: string; jwk?: JsonWebKey; kid?: string };
    try {
      jws = JSON.parse(body);
      header = JSON.parse(fromUtf8(fromBase64Url(jws.protected)));
    } catch {
      return void problem(res, "malformed", "the body is not a flattened JWS");
    }
    if (header.alg !== "ES256")
      return void problem(res, "badSignatureAlgorithm", `alg ${header.alg}`);
    if (header.url !== `${base}${req.url}`)
      return void problem(
        res,
        "unauthorized",
        `protected url ${header.url} is not the request URL`,
      );
    if (!header.nonce || !nonces.delete(header.nonce))
      return void problem(res, "badNonce", "unknown or used nonce");
    if (Boolean(header.jwk) === Boolean(header.kid))
      return void problem(res, "malformed", "exactly one of jwk and kid");
    if (header.jwk && !allowJwk)
      return void problem(res, "malformed", "this resource needs kid, not jwk");
    const jwk = header.jwk ?? (header.kid ? accounts.get(header.kid) : undefined);
    if (!jwk) return void problem(res, "accountDoesNotExist", "no such account");
    const key = await crypto.subtle.importKey(
      "jwk",
      jwk,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const valid = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      fromBase64Url(jws.signature),
      utf8(`${jws.protected}.${jws.payload}`),
    );
    if (!valid) return void problem(res, "unauthorized", "the signature does not verify");
    const payload = jws.payload === "" ? "" : JSON.parse(fromUtf8(fromBase64Url(jws.payload)));
    return { payload, ...(header.kid ? { accountUrl: header.kid } : {}) };
  }

  function checkOrderPayload(payload: Record<string, unknown>): string | undefined {
    const allowed = new Set(["identifiers", "notBefore", "notAfter", "profile", "replaces"]);
    const unknown = Object.keys(payload).find((k) => !allowed.has(k));
    if (unknown) return `unknown newOrder field ${unknown}`;
    const ids = payload.identifiers;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      !ids.every((i) => i?.type === "dns" && typeof i.value === "string")
    ) {
      return "identifiers must be a non-empty array of {type: dns, value}";
    }
    if ("profile" in payload && typeof payload.profile !== "string")
      return "profile must be a string";
    if ("replaces" in payload) {
      const id = payload.replaces;
      if (typeof id !== "string" || !certIdPattern.test(id))
        return "replaces must be a certificate ID: base64url(AKI) '.' base64url(serial), unpadded";
    }
    return undefined;
  }

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const path = new URL(req.url ?? "/", base).pathname;
    const entry: StandinRequest = {
      method: req.method ?? "",
      path,
      authorization: req.headers.authorization,
      body,
    };
    requests.push(entry);

    if (req.method === "GET" && path === "/dir") {
      return send(res, 200, {
        newNonce: `${base}/nonce`,
        newAccount: `${base}/acct`,
        newOrder: `${base}/order`,
        revokeCert: `${base}/revoke`,
        keyChange: `${base}/key-change`,
        ...(options.renewalInfo === false ? {} : { renewalInfo: `${base}/renewal-info` }),
        meta: {
          profiles: options.profiles ?? {
            classic: "90-day certificates",
            tlsserver: "45-day certificates",
          },
        },
      });
    }
    if (req.method === "HEAD" && path === "/nonce")
      return send(res, 200, undefined, { "cache-control": "no-store" });
    if (path.startsWith("/renewal-info/")) {
      // RFC 9773 §4.2: an unauthenticated GET; the certificate ID is the last path segment.
      if (req.method !== "GET")
        return problem(res, "malformed", "renewalInfo is fetched with GET", 405);
      if (req.headers.authorization || body)
        return problem(res, "malformed", "renewalInfo takes no credentials or body");
      const id = path.slice("/renewal-info/".length);
      if (!certIdPattern.test(id))
        return problem(res, "malformed", `${id} is not a certificate ID`);
      const start = new Date(Date.now() + 10 * 86_400_000);
      const end = new Date(start.getTime() + 2 * 86_400_000);
      return send(
        res,
        200,
        {
          suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
          explanationURL: `${base}/docs/ari`,
        },
        { "retry-after": "21600" },
      );
    }
    if (req.method !== "POST")
      return problem(res, "malformed", `${req.method} ${path} is not served`, 405);

    if (path === "/acct") {
      const checked = await verified(req, body, res, true);
      if (!checked) return;
      const header = JSON.parse(fromUtf8(fromBase64Url(JSON.parse(body).protected)));
      const url = `${base}/acct/${accounts.size + 1}`;
      accounts.set(url, header.jwk);
      return send(res, 201, { status: "valid" }, { location: url });
    }
    if (path === "/order") {
      const checked = await verified(req, body, res, false);
      if (!checked) return;
      const payload = checked.payload as Record<string, unknown>;
      entry.payload = payload;
      const wrong = checkOrderPayload(payload);
      if (wrong) return problem(res, "malformed", wrong);
      const profiles = options.profiles ?? { classic: "", tlsserver: "" };
      if (
        typeof payload.profile === "string" &&
        (!(payload.profile in profiles) || options.refusedProfiles?.includes(payload.profile))
      ) {
        return problem(res, "invalidProfile", `profile ${payload.profile} is not available`);
      }
      const id = ++counter;
      return send(
        res,
        201,
        {
          status: "pending",
          identifiers: payload.identifiers,
          authorizations: [`${base}/authz/${id}`],
          finalize: `${base}/finalize/${id}`,
          ...(payload.profile ? { profile: payload.profile } : {}),
          ...(payload.replaces ? { replaces: payload.replaces } : {}),
        },
        { location: `${base}/order/${id}` },
      );
    }
    return problem(res, "malformed", `no resource at ${path}`, 404);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    directory: `${base}/dir`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
