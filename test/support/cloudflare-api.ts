// A stand-in for the part of Cloudflare's API that the Cloudflare for SaaS deployer uses: custom
// hostnames on one zone (list by hostname, create, read, edit, delete). A certificate just
// uploaded reads as SSL pending_deployment once, then active, as Cloudflare spreads it. The real API cannot be reached
// from here, so this one is strict instead: it answers only requests that match the documented
// shapes (paths, query parameters, bodies with no unknown fields, PEM certificates and keys that
// parse and belong together, the bearer token), and anything else gets Cloudflare's error
// envelope with a 400 that says what was wrong. Tests can make the next requests fail, and read
// every request it saw. Node only.
//
// Given a DNS server, it validates each hostname as Cloudflare does before routing it: active
// once the name's CNAME reaches the zone (real-time validation) or the `_cf-custom-hostname` TXT
// record holds the hostname's `ownership_verification` value (pre-validation); pending until
// then, with Cloudflare's verification error. Without one, every hostname counts as validated.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export interface StoredHostname {
  id: string;
  hostname: string;
  certificatePem: string;
  keyPem: string;
  bundleMethod: string;
  sslStatus: "pending_deployment" | "active";
  /** A hostname whose certificate Cloudflare issues (ssl.method http, no custom certificate). */
  managed: ManagedProgress | null;
  /** The value its `_cf-custom-hostname` TXT record must hold (pre-validation). */
  ownershipValue: string;
  /** Whether Cloudflare has validated the hostname (it routes it once it has). */
  validated: boolean;
}

/** One state of a Cloudflare-issued certificate's way to active, as the API shows it. */
export interface ManagedStage {
  status: string;
  ssl: string;
  /** ssl.validation_errors' messages. */
  errors?: string[];
}

/** Where a managed hostname is on its script; each read moves it one stage on. */
interface ManagedProgress {
  script: ManagedStage[];
  at: number;
  certificate: { serial: string; issuedOn: string; expiresOn: string } | null;
}

/** Cloudflare's documented way for an HTTP-validated certificate, one stage per read. */
export const managedPath: ManagedStage[] = [
  { status: "pending", ssl: "initializing" },
  { status: "pending", ssl: "pending_validation" },
  { status: "active", ssl: "pending_deployment" },
  { status: "active", ssl: "active" },
];

/**
 * The account and SaaS zone as deploy:check reads them (scripts/lib/deploy-check.ts): what
 * exists, answered in the shapes of the API reference (D1, Queues, Workers secrets, routes and
 * custom domains, the fallback origin, DNS records, zone settings, the zone's plan).
 */
export interface AccountModel {
  accountId: string;
  d1: { uuid: string; name: string; jurisdiction?: "eu" }[];
  queues: { name: string; jurisdiction?: "eu" }[];
  /** Secret names by Worker; a Worker absent here is not deployed. */
  secrets: Record<string, string[]>;
  workerDomains: { hostname: string; service: string }[];
  /** Worker routes on the SaaS zone. */
  routes: { pattern: string; script: string }[];
  fallbackOrigin: { origin: string; status: string } | null;
  dnsRecords: { name: string; type: string; content: string; proxied: boolean }[];
  alwaysUseHttps: "on" | "off";
  plan: { name: string; legacy_id: string };
}

export interface CloudflareApiStandin {
  /** The base URL to give the SDK (…/client/v4). */
  baseUrl: string;
  requests: RecordedRequest[];
  hostnames: () => StoredHostname[];
  /** The next `count` requests fail with this status and Cloudflare error. */
  failNext: (
    count: number,
    status: number,
    error?: { code: number; message: string },
    headers?: Record<string, string>,
  ) => void;
  /** The next certificate upload is answered as done but not kept (a lost write). */
  dropNextUpload: () => void;
  /** What deploy:check finds; tests change it to make a check fail. */
  account: AccountModel;
  /**
   * Whether the zone may carry custom certificates (Enterprise only, per Cloudflare's plans
   * table). Without it, uploads are refused the way Cloudflare refuses Enterprise-only options
   * (code 1459's wording for certificate_authority; the code used here is the stand-in's own).
   */
  entitleCustomCertificates: (entitled: boolean) => void;
  /** The stages the next managed hostname created (or restarted) goes through. */
  scriptNextManaged: (script: ManagedStage[]) => void;
  /** Cloudflare renews a managed hostname's certificate: a new serial from now on. */
  renewManaged: (hostname: string) => void;
  close: () => Promise<void>;
}

// Documented in the API reference (Custom Hostnames: create / edit), SSL part.
const sslSchema = z.strictObject({
  bundle_method: z.enum(["ubiquitous", "optimal", "force"]).optional(),
  certificate_authority: z.enum(["digicert", "google", "lets_encrypt", "ssl_com"]).optional(),
  cloudflare_branding: z.boolean().optional(),
  custom_cert_bundle: z
    .array(z.strictObject({ custom_certificate: z.string(), custom_key: z.string() }))
    .min(1)
    .max(2)
    .optional(),
  custom_certificate: z.string().optional(),
  custom_csr_id: z.string().optional(),
  custom_key: z.string().optional(),
  method: z.enum(["http", "txt", "email"]).optional(),
  settings: z
    .strictObject({
      ciphers: z.array(z.string()).optional(),
      early_hints: z.enum(["on", "off"]).optional(),
      http2: z.enum(["on", "off"]).optional(),
      min_tls_version: z.enum(["1.0", "1.1", "1.2", "1.3"]).optional(),
      tls_1_3: z.enum(["on", "off"]).optional(),
    })
    .optional(),
  type: z.literal("dv").optional(),
  wildcard: z.boolean().optional(),
});

const hostnameSettings = {
  custom_metadata: z.record(z.string(), z.string()).optional(),
  custom_origin_server: z.string().optional(),
  custom_origin_sni: z.string().optional(),
  ssl: sslSchema.optional(),
};

const createSchema = z.strictObject({
  hostname: z
    .string()
    .max(255)
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]+$/i, "must be a host name"),
  ...hostnameSettings,
});
const editSchema = z.strictObject(hostnameSettings);
const listQuery = z.strictObject({
  "hostname.exact": z.string().optional(),
  page: z.coerce.number().int().min(1).optional(),
  per_page: z.coerce.number().int().min(5).max(50).optional(),
});

const identifier = /^[0-9a-f]{32}$/;

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A certificate and key that a TLS server could use, or the reason they are not. */
function checkCertificate(certificatePem: string | undefined, keyPem: string | undefined): void {
  if (certificatePem === undefined && keyPem === undefined) return;
  if (!certificatePem || !keyPem)
    throw new Refusal(400, 1402, "custom_certificate and custom_key must be sent together");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certificatePem);
  } catch {
    throw new Refusal(400, 1402, "custom_certificate is not a PEM certificate");
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new Refusal(400, 1402, "custom_key is not a PEM private key");
  }
  if (!leaf.checkPrivateKey(key))
    throw new Refusal(400, 1402, "custom_key does not match custom_certificate");
}

export async function startCloudflareApi(options: {
  port: number;
  zoneId: string;
  apiToken: string;
  account?: AccountModel;
  /** Where hostnames are looked up to validate them ("127.0.0.1:53"); none: all validated. */
  dnsServer?: string;
  /** The SaaS zone's name, which a CNAME must reach (default track-endpoint.test). */
  zoneName?: string;
}): Promise<CloudflareApiStandin> {
  const zoneName = options.zoneName ?? "track-endpoint.test";
  const resolver = options.dnsServer ? new Resolver({ timeout: 2000, tries: 1 }) : null;
  if (options.dnsServer) resolver?.setServers([options.dnsServer]);
  const reachesZone = async (name: string): Promise<boolean> => {
    let current = name;
    for (let hop = 0; hop < 8 && resolver; hop++) {
      const [target] = await resolver.resolveCname(current).catch(() => [] as string[]);
      if (!target) return false;
      if (target === zoneName || target.endsWith(`.${zoneName}`)) return true;
      current = target;
    }
    return false;
  };
  /** Cloudflare's look at a pending hostname: the CNAME, then the pre-validation TXT record. */
  const validate = async (h: StoredHostname): Promise<void> => {
    if (h.validated || !resolver) return;
    const txt = await resolver
      .resolveTxt(`_cf-custom-hostname.${h.hostname}`)
      .catch(() => [] as string[][]);
    h.validated =
      txt.some((chunks) => chunks.join("") === h.ownershipValue) || (await reachesZone(h.hostname));
  };
  const account: AccountModel = options.account ?? {
    accountId: "0".repeat(32),
    d1: [],
    queues: [],
    secrets: {},
    workerDomains: [],
    routes: [],
    fallbackOrigin: null,
    dnsRecords: [],
    alwaysUseHttps: "off",
    plan: { name: "Free Website", legacy_id: "free" },
  };
  const hostnames = new Map<string, StoredHostname>();
  const requests: RecordedRequest[] = [];
  let failures: {
    status: number;
    error: { code: number; message: string };
    headers: Record<string, string>;
  }[] = [];

  const send = (
    res: ServerResponse,
    status: number,
    body: Record<string, unknown>,
    headers = {},
  ) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify({ success: status < 400, errors: [], messages: [], ...body }));
  };
  let dropNextUpload = false;
  let customCertificates = true;
  let nextScript: ManagedStage[] | null = null;
  const newCertificate = () => ({
    serial: crypto.randomUUID().replaceAll("-", "").slice(0, 32),
    issuedOn: new Date().toISOString(),
    expiresOn: new Date(Date.now() + 90 * 24 * 3600_000).toISOString(),
  });
  const startManaged = (): ManagedProgress => {
    const script = nextScript ?? managedPath;
    nextScript = null;
    return { script, at: 0, certificate: null };
  };
  /** The stage a managed hostname shows now; reading it moves it on. */
  const stageOf = (progress: ManagedProgress, read: boolean): ManagedStage => {
    const stage = progress.script[
      Math.min(progress.at, progress.script.length - 1)
    ] as ManagedStage;
    if (stage.ssl === "active") progress.certificate ??= newCertificate();
    if (read) progress.at++;
    return stage;
  };
  const refuseUnentitled = (ssl: { custom_certificate?: string } | undefined) => {
    if (ssl?.custom_certificate && !customCertificates)
      throw new Refusal(
        403,
        1499,
        "Custom certificates are only available on an Enterprise plan. If you're interested in the Enterprise plan, please contact sales.",
      );
  };
  /** The custom certificate's fields, as the API reference lists them for an uploaded one. */
  const uploadedOf = (h: StoredHostname) => {
    if (!h.certificatePem) return {};
    const leaf = new X509Certificate(h.certificatePem);
    return {
      serial_number: leaf.serialNumber,
      expires_on: new Date(leaf.validTo).toISOString(),
      issuer: leaf.issuer,
      hosts: (leaf.subjectAltName ?? "").split(", ").map((name) => name.replace(/^DNS:/, "")),
    };
  };
  const ownershipOf = (h: StoredHostname) => ({
    ownership_verification: {
      type: "txt",
      name: `_cf-custom-hostname.${h.hostname}`,
      value: h.ownershipValue,
    },
    ...(h.validated
      ? {}
      : { verification_errors: ["custom hostname does not CNAME to this zone."] }),
  });
  const present = (h: StoredHostname, read = false) => {
    if (h.managed && !h.validated) {
      // Nothing happens to the certificate before the hostname itself is validated.
      const first = h.managed.script[0] as ManagedStage;
      return {
        id: h.id,
        hostname: h.hostname,
        status: "pending",
        created_at: new Date().toISOString(),
        ...ownershipOf(h),
        ssl: { id: h.id, status: first.ssl, method: "http", type: "dv" },
      };
    }
    if (h.managed) {
      const stage = stageOf(h.managed, read);
      const certificate = stage.ssl === "active" ? h.managed.certificate : null;
      return {
        id: h.id,
        hostname: h.hostname,
        status: stage.status,
        created_at: new Date().toISOString(),
        ...ownershipOf(h),
        ssl: {
          id: h.id,
          status: stage.ssl,
          method: "http",
          type: "dv",
          bundle_method: h.bundleMethod,
          ...(stage.errors
            ? { validation_errors: stage.errors.map((message) => ({ message })) }
            : {}),
          ...(certificate
            ? {
                certificates: [
                  {
                    id: h.id,
                    issuer: "GoogleTrustServices",
                    serial_number: certificate.serial,
                    issued_on: certificate.issuedOn,
                    expires_on: certificate.expiresOn,
                  },
                ],
              }
            : {}),
        },
      };
    }
    return {
      id: h.id,
      hostname: h.hostname,
      status: h.validated ? "active" : "pending",
      created_at: new Date().toISOString(),
      ...ownershipOf(h),
      ssl: {
        id: h.id,
        status: h.certificatePem ? h.sslStatus : "initializing",
        type: "dv",
        bundle_method: h.bundleMethod,
        ...uploadedOf(h),
      },
    };
  };
  /** Keeps an uploaded certificate, unless the test asked for this upload to be lost. */
  const upload = (h: StoredHostname, certificatePem: string, keyPem: string) => {
    if (dropNextUpload) {
      dropNextUpload = false;
      return;
    }
    h.certificatePem = certificatePem;
    h.keyPem = keyPem;
    h.sslStatus = "pending_deployment";
  };

  const list = (res: ServerResponse, result: unknown[]) =>
    send(res, 200, {
      result,
      result_info: { page: 1, per_page: 100, count: result.length, total_count: result.length },
    });
  /** The read-only account and zone endpoints deploy:check uses; false when the path is not one. */
  const readAccount = (url: URL, query: Record<string, string>, res: ServerResponse): boolean => {
    const path = url.pathname.replace(/^\/client\/v4/, "");
    const accountPath = /^\/accounts\/([^/]+)(\/.*)$/.exec(path);
    if (accountPath) {
      const [, id, rest = ""] = accountPath;
      if (id !== account.accountId)
        throw new Refusal(403, 9109, "Unauthorized to access requested resource");
      const database = /^\/d1\/database\/([^/]+)$/.exec(rest);
      if (database) {
        const found = account.d1.find((d) => d.uuid === database[1]);
        if (!found) throw new Refusal(404, 7404, `The database ${database[1]} could not be found`);
        send(res, 200, { result: { ...found, version: "production", num_tables: 12 } });
        return true;
      }
      if (rest === "/queues") {
        list(
          res,
          account.queues.map((q, i) => ({
            queue_id: `q${i}`,
            queue_name: q.name,
            ...(q.jurisdiction ? { jurisdiction: q.jurisdiction } : {}),
          })),
        );
        return true;
      }
      const secrets = /^\/workers\/scripts\/([^/]+)\/secrets$/.exec(rest);
      if (secrets) {
        const names = account.secrets[secrets[1] ?? ""];
        if (!names) throw new Refusal(404, 10007, "This Worker does not exist on your account.");
        list(
          res,
          names.map((name) => ({ name, type: "secret_text" })),
        );
        return true;
      }
      if (rest === "/workers/domains") {
        list(
          res,
          account.workerDomains
            .filter((d) => !query.hostname || d.hostname === query.hostname)
            .map((d, i) => ({
              id: `d${i}`,
              ...d,
              zone_id: options.zoneId,
              environment: "production",
            })),
        );
        return true;
      }
      return false;
    }
    const zonePath = /^\/zones\/([^/]+)(\/.*)?$/.exec(path);
    if (!zonePath) return false;
    const [, zone, rest = ""] = zonePath;
    if (zone !== options.zoneId) throw new Refusal(404, 7003, "Could not route to zone");
    if (rest === "") {
      send(res, 200, {
        result: {
          id: zone,
          name: "track-endpoint.test",
          status: "active",
          plan: { id: "p", ...account.plan },
        },
      });
      return true;
    }
    if (rest === "/workers/routes") {
      list(
        res,
        account.routes.map((r, i) => ({ id: `r${i}`, ...r })),
      );
      return true;
    }
    if (rest === "/custom_hostnames/fallback_origin") {
      if (!account.fallbackOrigin) throw new Refusal(404, 1551, "No fallback origin found.");
      send(res, 200, { result: { ...account.fallbackOrigin, errors: [] } });
      return true;
    }
    if (rest === "/dns_records") {
      const name = query["name.exact"] ?? query.name;
      list(
        res,
        account.dnsRecords
          .filter((r) => name === undefined || r.name === name)
          .map((r, i) => ({ id: `dns${i}`, ttl: 1, ...r })),
      );
      return true;
    }
    if (rest === "/settings/always_use_https") {
      send(res, 200, {
        result: { id: "always_use_https", value: account.alwaysUseHttps, editable: true },
      });
      return true;
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? "/", "http://standin");
    const query = Object.fromEntries(url.searchParams);
    let parsedBody: unknown = null;
    if (body) {
      if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
        throw new Refusal(400, 6003, "Content-Type must be application/json");
      try {
        parsedBody = JSON.parse(body);
      } catch {
        throw new Refusal(400, 6007, "Malformed JSON in request body");
      }
    }
    requests.push({ method: req.method ?? "", path: url.pathname, query, body: parsedBody });

    if (req.headers.authorization !== `Bearer ${options.apiToken}`)
      throw new Refusal(403, 10000, "Authentication error");
    const failure = failures.shift();
    if (failure) return send(res, failure.status, { errors: [failure.error] }, failure.headers);

    if (req.method === "GET" && readAccount(url, query, res)) return;

    const match = /^\/client\/v4\/zones\/([^/]+)\/custom_hostnames(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
    if (!match) throw new Refusal(404, 7003, `No route for that URI: ${url.pathname}`);
    const [, zone, id] = match;
    if (zone !== options.zoneId) throw new Refusal(404, 7003, "Could not route to zone");
    const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
      const result = schema.safeParse(value);
      if (!result.success)
        throw new Refusal(
          400,
          1003,
          result.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
        );
      return result.data;
    };

    if (id === undefined && req.method === "GET") {
      const q = parse(listQuery, query);
      const found = [...hostnames.values()].filter(
        (h) => q["hostname.exact"] === undefined || h.hostname === q["hostname.exact"],
      );
      for (const h of found) await validate(h);
      return send(res, 200, {
        result: found.map((h) => present(h, q["hostname.exact"] !== undefined)),
        result_info: { page: 1, per_page: 20, count: found.length, total_count: found.length },
      });
    }
    if (id === undefined && req.method === "POST") {
      const b = parse(createSchema, parsedBody);
      refuseUnentitled(b.ssl);
      checkCertificate(b.ssl?.custom_certificate, b.ssl?.custom_key);
      if ([...hostnames.values()].some((h) => h.hostname === b.hostname))
        throw new Refusal(409, 1406, "Duplicate custom hostname found.");
      const created: StoredHostname = {
        id: crypto.randomUUID().replaceAll("-", ""),
        hostname: b.hostname,
        certificatePem: "",
        keyPem: "",
        bundleMethod: b.ssl?.bundle_method ?? "ubiquitous",
        sslStatus: "active",
        managed: b.ssl?.method && !b.ssl.custom_certificate ? startManaged() : null,
        ownershipValue: crypto.randomUUID(),
        validated: resolver === null,
      };
      await validate(created);
      if (b.ssl?.custom_certificate && b.ssl.custom_key)
        upload(created, b.ssl.custom_certificate, b.ssl.custom_key);
      hostnames.set(created.id, created);
      return send(res, 200, { result: present(created) });
    }
    if (id !== undefined && !identifier.test(id))
      throw new Refusal(400, 7003, "custom hostname identifier is invalid");
    const existing = id ? hostnames.get(id) : undefined;
    if (req.method === "GET") {
      if (parsedBody !== null) throw new Refusal(400, 1003, "GET takes no body");
      if (!existing) throw new Refusal(404, 1436, "The custom hostname was not found.");
      await validate(existing);
      const shown = present(existing);
      // Deployed everywhere once someone has seen it on its way.
      existing.sslStatus = "active";
      return send(res, 200, { result: shown });
    }
    if (req.method === "PATCH") {
      const b = parse(editSchema, parsedBody);
      if (!existing) throw new Refusal(404, 1436, "The custom hostname was not found.");
      refuseUnentitled(b.ssl);
      checkCertificate(b.ssl?.custom_certificate, b.ssl?.custom_key);
      if (b.ssl?.custom_certificate && b.ssl.custom_key)
        upload(existing, b.ssl.custom_certificate, b.ssl.custom_key);
      if (b.ssl?.bundle_method) existing.bundleMethod = b.ssl.bundle_method;
      await validate(existing);
      // Sending the validation method again restarts a managed hostname's validation.
      if (existing.managed && b.ssl?.method) {
        const certificate = existing.managed.certificate;
        existing.managed = { ...startManaged(), certificate };
      }
      return send(res, 200, { result: present(existing) });
    }
    if (req.method === "DELETE") {
      if (parsedBody !== null && Object.keys(parsedBody as object).length > 0)
        throw new Refusal(400, 1003, "DELETE takes no body");
      if (!existing) throw new Refusal(404, 1436, "The custom hostname was not found.");
      hostnames.delete(existing.id);
      return send(res, 200, { result: { id: existing.id } });
    }
    throw new Refusal(405, 10405, `Method ${req.method} not allowed for this route`);
  };

  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      handle(req, res, body).catch((error: unknown) => {
        if (error instanceof Refusal)
          send(res, error.status, { errors: [{ code: error.code, message: error.message }] });
        else send(res, 500, { errors: [{ code: 10001, message: String(error) }] });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/client/v4`,
    requests,
    hostnames: () => [...hostnames.values()],
    failNext: (count, status, error = { code: 10001, message: "Internal error" }, headers = {}) => {
      failures = Array.from({ length: count }, () => ({ status, error, headers }));
    },
    dropNextUpload: () => {
      dropNextUpload = true;
    },
    account,
    entitleCustomCertificates: (entitled) => {
      customCertificates = entitled;
    },
    scriptNextManaged: (script) => {
      nextScript = script;
    },
    renewManaged: (name) => {
      for (const h of hostnames.values())
        if (h.hostname === name && h.managed) h.managed.certificate = newCertificate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
