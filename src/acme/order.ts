// Orders (RFC 8555 §7.4): place one, look at it, list an account's, finalize one with a CSR.
// Nothing here waits:
// each call returns the order and the server's Retry-After; the caller decides when to look again.

import { z } from "zod";
import { base64Url } from "../util/encoding";
import { type AcmeClient, parseJson, type Signer } from "./client";
import { postAsGet } from "./jws";
import { AcmeProtocolError } from "./problem";
import { type Fetched, type Identifier, type Order, OrderSchema } from "./types";

export interface NewOrderOptions {
  identifiers: Identifier[];
  /** draft-ietf-acme-profiles: one of the names in directory.meta.profiles. */
  profile?: string;
  /** RFC 9773 §5: the ARI certificate ID of the certificate this order replaces. */
  replaces?: string;
}

export class ProfileNotOfferedError extends Error {
  override readonly name = "ProfileNotOfferedError";
}

export async function newOrder(
  client: AcmeClient,
  signer: Signer,
  options: NewOrderOptions,
): Promise<Fetched<Order>> {
  const directory = await client.directory();
  const payload: Record<string, unknown> = { identifiers: options.identifiers };
  if (options.profile !== undefined) {
    // Asking a CA for a profile it does not list would only earn an invalidProfile problem.
    const offered = directory.meta?.profiles ?? {};
    if (!Object.hasOwn(offered, options.profile)) {
      const names = Object.keys(offered);
      throw new ProfileNotOfferedError(
        `the CA does not offer profile ${options.profile}${names.length ? ` (it offers ${names.join(", ")})` : " (it offers none)"}`,
      );
    }
    payload.profile = options.profile;
  }
  if (options.replaces !== undefined) payload.replaces = options.replaces;
  const response = await client.post(directory.newOrder, signer, payload);
  if (!response.location)
    throw new AcmeProtocolError(
      "newOrder answered without the order URL (Location)",
      directory.newOrder,
    );
  return {
    resource: parseJson(response, OrderSchema, "order", directory.newOrder),
    url: response.location,
    retryAfter: response.retryAfter,
  };
}

export async function getOrder(
  client: AcmeClient,
  signer: Signer,
  url: string,
): Promise<Fetched<Order>> {
  const response = await client.post(url, signer, postAsGet);
  return {
    resource: parseJson(response, OrderSchema, "order", url),
    url,
    retryAfter: response.retryAfter,
  };
}

/** §7.4: POST the CSR to the order's finalize URL; the order comes back `processing` or `valid`. */
export async function finalizeOrder(
  client: AcmeClient,
  signer: Signer,
  order: Fetched<Order>,
  csrDer: Uint8Array,
): Promise<Fetched<Order>> {
  const response = await client.post(order.resource.finalize, signer, { csr: base64Url(csrDer) });
  return {
    resource: parseJson(response, OrderSchema, "order", order.resource.finalize),
    url: order.url,
    retryAfter: response.retryAfter,
  };
}

const OrdersListSchema = z.looseObject({ orders: z.array(z.string()) });

/**
 * §7.1.2.1: the account's orders, from its `orders` URL, following Link rel="next" for at most
 * `maxPages` pages. The RFC sets no order: Pebble lists the oldest first, so a caller wanting the
 * newest looks at both ends of what it gets.
 */
export async function listOrders(
  client: AcmeClient,
  signer: Signer,
  ordersUrl: string,
  maxPages = 50,
): Promise<string[]> {
  const urls: string[] = [];
  let next: string | undefined = ordersUrl;
  for (let page = 0; next && page < maxPages; page++) {
    const response = await client.post(next, signer, postAsGet);
    urls.push(...parseJson(response, OrdersListSchema, "orders list", next).orders);
    next = response.links.find((l) => l.rel === "next")?.url;
  }
  return urls;
}
