// The SQL that makes an account (if new), a subaccount (if asked and new) and an API key for
// it, for `wrangler d1 execute`, which takes literal SQL: every value is quoted here.
import { generateApiKey } from "../../src/accounts/api-keys";
import { everyGrant } from "../../src/accounts/grants";
import { wrangler } from "./wrangler";

export interface ApiKeyRequest {
  account: string;
  subaccount?: number;
  label?: string;
}

export interface ApiKeyStatements {
  key: string;
  shortKey: string;
  sql: string;
}

export const sqlString = (value: string): string => `'${value.replaceAll("'", "''")}'`;

export function checkApiKeyRequest(request: ApiKeyRequest): void {
  if (!/^[^\p{Cc}]{1,200}$/u.test(request.account)) {
    throw new Error("--account must be 1 to 200 printable characters");
  }
  if (
    request.subaccount !== undefined &&
    !(Number.isInteger(request.subaccount) && request.subaccount > 0)
  ) {
    throw new Error("--subaccount must be a positive whole number");
  }
  if (request.label !== undefined && !/^[^\p{Cc}]{1,200}$/u.test(request.label)) {
    throw new Error("--label must be 1 to 200 printable characters");
  }
}

export async function apiKeyStatements(request: ApiKeyRequest): Promise<ApiKeyStatements> {
  checkApiKeyRequest(request);
  const { key, hash, shortKey, publicId } = await generateApiKey();
  const account = sqlString(request.account);
  const sub = request.subaccount;
  const label = sqlString(
    request.label ?? (sub === undefined ? "primary key" : `subaccount ${sub} key`),
  );
  // The operator's key: every grant a key of its kind may hold.
  const keyGrants = everyGrant(sub !== undefined);
  const statements = [
    `INSERT INTO accounts (name) VALUES (${account}) ON CONFLICT (name) DO NOTHING`,
  ];
  if (sub !== undefined) {
    statements.push(
      `INSERT INTO subaccounts (account_id, id, name) SELECT id, ${sub}, ${sqlString(`Subaccount ${sub}`)} ` +
        `FROM accounts WHERE name = ${account} ON CONFLICT DO NOTHING`,
    );
  }
  statements.push(
    "INSERT INTO api_keys (account_id, subaccount_id, label, short_key, key_hash, public_id, grants) " +
      `SELECT id, ${sub ?? "NULL"}, ${label}, ${sqlString(shortKey)}, ${sqlString(hash)}, ${sqlString(publicId)}, ` +
      `${sqlString(JSON.stringify(keyGrants))} FROM accounts WHERE name = ${account}`,
  );
  return { key, shortKey, sql: `${statements.join(";\n")};` };
}

/**
 * New API keys in the local D1 (under `persistTo`, else wrangler's default state), one
 * `wrangler d1 execute` for all of them; the keys in the order asked.
 */
export async function createLocalApiKeys(
  requests: ApiKeyRequest[],
  persistTo?: string,
): Promise<string[]> {
  const made = [];
  for (const request of requests) made.push(await apiKeyStatements(request));
  wrangler([
    "d1",
    "execute",
    "DB",
    "--local",
    "--yes",
    "--command",
    made.map((m) => m.sql).join("\n"),
    ...(persistTo ? ["--persist-to", persistTo] : []),
  ]);
  return made.map((m) => m.key);
}

const hostname =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** SQL giving `account` its own V2 endpoint (null: the deployment's), then reading it back. */
/** Whether every new domain of the account needs the ownership TXT record (an operator's call). */
export function accountOwnershipSql(account: string, require: boolean): string {
  return `UPDATE accounts SET require_ownership_proof = ${require ? 1 : 0} WHERE name = ${sqlString(account)};
SELECT name, require_ownership_proof FROM accounts WHERE name = ${sqlString(account)};`;
}

export function accountEndpointSql(account: string, endpoint: string | null): string {
  if (endpoint !== null && !hostname.test(endpoint))
    throw new Error(`--v2-endpoint must be a host name, not ${JSON.stringify(endpoint)}`);
  return `UPDATE accounts SET v2_endpoint = ${endpoint === null ? "NULL" : sqlString(endpoint)} WHERE name = ${sqlString(account)};
SELECT name, v2_endpoint FROM accounts WHERE name = ${sqlString(account)};`;
}
