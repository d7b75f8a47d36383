// Accounts (RFC 8555 §7.3): create one, find the one that belongs to a key, read one.
import { type AcmeClient, parseJson, type Signer } from "./client";
import {
  type AccountKey,
  type ExternalAccountBinding,
  postAsGet,
  signExternalAccountBinding,
} from "./jws";
import { AcmeProtocolError } from "./problem";
import { type Account, AccountSchema, type Fetched } from "./types";

export interface NewAccountOptions {
  /** mailto: URLs, e.g. ["mailto:ops@example.com"]. */
  contact?: string[];
  /** The caller has agreed to the CA's terms (directory.meta.termsOfService). */
  termsOfServiceAgreed: boolean;
  externalAccountBinding?: ExternalAccountBinding;
}

/**
 * newAccount. "If the server already has an account registered with the provided account key,
 * then it MUST return a response with status code 200 (OK) and provide the URL of that account
 * in the Location header field" (§7.3.1), so calling it again for the same key is safe.
 */
export async function newAccount(
  client: AcmeClient,
  key: AccountKey,
  options: NewAccountOptions,
): Promise<Fetched<Account>> {
  const directory = await client.directory();
  const payload: Record<string, unknown> = { termsOfServiceAgreed: options.termsOfServiceAgreed };
  if (options.contact?.length) payload.contact = options.contact;
  if (options.externalAccountBinding) {
    payload.externalAccountBinding = await signExternalAccountBinding(
      options.externalAccountBinding,
      key.publicJwk,
      directory.newAccount,
    );
  }
  return accountResponse(client, key, directory.newAccount, payload);
}

/** The account of `key`, without creating one (§7.3.1 onlyReturnExisting); accountDoesNotExist otherwise. */
export async function findAccount(client: AcmeClient, key: AccountKey): Promise<Fetched<Account>> {
  const directory = await client.directory();
  return accountResponse(client, key, directory.newAccount, { onlyReturnExisting: true });
}

/** §7.3: the account itself, read with POST-as-GET to its URL (its `orders` URL among it). */
export async function getAccount(client: AcmeClient, signer: Signer): Promise<Fetched<Account>> {
  const url = signer.accountUrl;
  if (!url) throw new AcmeProtocolError("no account URL to read", client.directoryUrl);
  const response = await client.post(url, signer, postAsGet);
  return {
    resource: parseJson(response, AccountSchema, "account", url),
    url,
    retryAfter: response.retryAfter,
  };
}

async function accountResponse(
  client: AcmeClient,
  key: AccountKey,
  url: string,
  payload: unknown,
): Promise<Fetched<Account>> {
  const response = await client.post(url, { key }, payload);
  if (!response.location)
    throw new AcmeProtocolError("newAccount answered without the account URL (Location)", url);
  return {
    resource: parseJson(response, AccountSchema, "account", url),
    url: response.location,
    retryAfter: response.retryAfter,
  };
}
