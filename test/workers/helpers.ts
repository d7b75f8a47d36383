// Accounts, keys and API calls for tests that run inside workerd against the worker itself.
import { env, SELF } from "cloudflare:test";
import { generateApiKey } from "../../src/accounts/api-keys";
import { everyGrant, type Grant } from "../../src/accounts/grants";

export interface TestAccount {
  accountId: number;
  key: string;
  call: (method: string, path: string, options?: CallOptions) => Promise<Response>;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is, instead of JSON-encoding `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** Calls the API on the API host, as a client would. */
export function callApi(
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  return SELF.fetch(`http://localhost/api/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

export async function newAccount(options: { subaccounts?: number[] } = {}): Promise<TestAccount> {
  const row = await env.DB.prepare("INSERT INTO accounts (name) VALUES (?) RETURNING id")
    .bind(`test-${crypto.randomUUID()}`)
    .first<{ id: number }>();
  if (!row) throw new Error("account insert failed");
  for (const id of options.subaccounts ?? []) {
    await env.DB.prepare("INSERT INTO subaccounts (account_id, id, name) VALUES (?, ?, ?)")
      .bind(row.id, id, `Subaccount ${id}`)
      .run();
  }
  const key = await newKey(row.id, null);
  return { accountId: row.id, key, ...withKey(key) };
}

/** API calls made with `key`. */
export function withKey(key: string): Pick<TestAccount, "call"> {
  return {
    call: (method, path, options = {}) =>
      callApi(method, path, { ...options, headers: { authorization: key, ...options.headers } }),
  };
}

/**
 * A further key for an existing account, optionally bound to one of its subaccounts, holding
 * every grant its kind may hold unless `grants` says otherwise.
 */
export async function newKey(
  accountId: number,
  subaccountId: number | null,
  grants: readonly Grant[] = everyGrant(subaccountId !== null),
): Promise<string> {
  const key = await generateApiKey();
  await env.DB.prepare(
    `INSERT INTO api_keys (account_id, subaccount_id, label, short_key, key_hash, public_id, grants)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      accountId,
      subaccountId,
      "test",
      key.shortKey,
      key.hash,
      key.publicId,
      JSON.stringify(grants),
    )
    .run();
  return key.key;
}

/** A fresh domain name under the .test zone that no other test uses. */
export function uniqueDomain(prefix = "track"): string {
  return `${prefix}.c${crypto.randomUUID().slice(0, 8)}.shop.test`;
}

/** A verified managed-HTTPS domain of `accountId`, pending, written straight into D1. */
export async function insertManagedDomain(accountId: number): Promise<string> {
  const domain = uniqueDomain();
  await env.DB.prepare(
    `INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified, tls_status)
     VALUES (?, ?, 'us', 'managed', 1, 'pending')`,
  )
    .bind(domain, accountId)
    .run();
  return domain;
}

export interface ErrorBody {
  errors: {
    message: string;
    code: string;
    description?: string;
    param?: string;
    value?: unknown;
  }[];
}
