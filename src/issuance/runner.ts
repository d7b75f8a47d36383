// Performs one step of the lifecycle: a bounded piece of network work (a few ACME requests at
// most), then reports what it found as an Outcome for machine.ts. Every step first reads the
// CA's current view (the order, the authorization), so running it twice, or after a restart in
// the middle, does no harm. Storage and the CA account come in through StepContext.

import { getAccount } from "../acme/account";
import { ariCertificateId, getRenewalInfo, RenewalInfoUnavailableError } from "../acme/ari";
import { answerChallenge, findChallenge, getAuthorization } from "../acme/authorization";
import { downloadCertificate } from "../acme/certificate";
import type { AcmeClient, Signer } from "../acme/client";
import { keyAuthorization } from "../acme/jws";
import { finalizeOrder, getOrder, listOrders, newOrder } from "../acme/order";
import { AcmeProblem, parseProblem } from "../acme/problem";
import type { Fetched, Order } from "../acme/types";
import type { Deployer } from "../deploy/deployer";
import { parseCertificate } from "../pki/certificate";
import { createCsr } from "../pki/csr";
import { type KeyRing, unwrapKey, wrapKey } from "../pki/key-wrap";
import { exportPkcs8, generateKeyPair, importPkcs8 } from "../pki/keys";
import { toPem } from "../pki/pem";
import { hex } from "../util/encoding";
import { logProblem, messageOf } from "../util/log";
import type { EligibilityContext } from "./eligibility";
import { eligibilityOutcome, failureFrom, isLostResource } from "./failures";
import { pointInWindow } from "./renewal";
import type { CertificateState, Outcome } from "./state";

export interface StoredCertificate {
  serial: string;
  keyId: string;
  chainPem: string;
  notBefore: string;
  notAfter: string;
  issuer: string | null;
  names: string[];
  orderUrl: string;
}

/** The object's own storage, as the steps need it (synchronous: SQLite in the Durable Object). */
export interface CertificateStore {
  putChallenge(token: string, keyAuthorization: string): void;
  clearChallenges(): void;
  keyForOrder(orderUrl: string): { id: string; wrapped: string } | null;
  putKey(key: { id: string; wrapped: string; orderUrl: string }): void;
  putCertificate(certificate: StoredCertificate): void;
  certificate(serial: string): (StoredCertificate & { wrappedKey: string }) | null;
  activate(serial: string): void;
  /**
   * The object's open order, kept across attempts (and a deletion) until its certificate is
   * downloaded: `url` null when newOrder was sent and its answer may have been lost.
   */
  openOrder(): { url: string | null } | null;
  noteOpenOrder(url: string | null): void;
  clearOpenOrder(): void;
}

export interface StepContext {
  acme: () => Promise<{ client: AcmeClient; signer: Signer }>;
  /** The CA forgot our account (a restarted test CA): register the same key again. */
  refreshAccount: (staleAccountUrl: string) => Promise<void>;
  eligibility: () => Promise<EligibilityContext>;
  keyRing: () => Promise<KeyRing>;
  store: CertificateStore;
  /** Puts a certificate and its key where the TLS edge serves them (see src/deploy). */
  deployer: () => Deployer;
  /**
   * Takes one of the account's new orders for this hour before a first certificate's order
   * (renewals are not counted); when none is left, the time the next one can be taken.
   */
  admitNewOrder: () => Promise<
    { admitted: true } | { admitted: false; until: string; detail: string }
  >;
}

export async function performStep(state: CertificateState, context: StepContext): Promise<Outcome> {
  try {
    return await perform(state, context);
  } catch (error) {
    if (isLostResource(error)) {
      if (error instanceof AcmeProblem && error.is("accountDoesNotExist")) {
        const { signer } = await context.acme();
        if (signer.accountUrl) await context.refreshAccount(signer.accountUrl);
        return { kind: "order_lost", detail: "The CA no longer knows our account" };
      }
      return { kind: "order_lost", detail: "The CA no longer knows the order" };
    }
    const failure = failureFrom(error);
    if (failure.code === "service:internal") {
      // Ours to fix: keep what happened for the operators (never key material: errors carry none).
      logProblem("issuance_error", {
        domain: state.domain,
        phase: state.phase,
        name: (error as Error).name,
        message: messageOf(error),
        stack: (error as Error).stack,
      });
    }
    return { kind: "failure", failure };
  }
}

async function perform(state: CertificateState, context: StepContext): Promise<Outcome> {
  const { domain } = state;
  switch (state.phase) {
    case "check":
      return eligibilityOutcome(domain, await context.eligibility());
    case "order": {
      // A first certificate spends the account's budget of new orders, once per attempt (not
      // again for a quick retry of this step); a renewal, which keeps a name served, does not.
      if (!state.current && state.stepRetries === 0) {
        const admission = await context.admitNewOrder();
        if (!admission.admitted)
          return { kind: "order_deferred", until: admission.until, detail: admission.detail };
      }
      const { client, signer } = await context.acme();
      const identifiers = [{ type: "dns", value: domain }];
      // An order of an earlier attempt that the CA still has live (managed HTTPS switched off
      // and on, the domain deleted and re-created, a stop before its answer was recorded): carry
      // on with it. A new order only when there is none, or it is invalid or gone.
      const open = context.store.openOrder();
      if (open) {
        const found = open.url
          ? await reusableOrder(client, signer, open.url, domain)
          : await liveOrderFor(client, signer, domain);
        if (found) return orderedOutcome(found, undefined);
        context.store.clearOpenOrder();
      }
      context.store.noteOpenOrder(null);
      // A renewal names the certificate it replaces when the CA speaks ARI (RFC 9773 §5); such
      // renewals are exempt from Let's Encrypt's rate limits.
      const replaces =
        state.current?.ariId && (await client.directory()).renewalInfo
          ? state.current.ariId
          : undefined;
      const placed = await newOrder(client, signer, {
        identifiers,
        ...(replaces ? { replaces } : {}),
      })
        .catch((error: unknown) => {
          // Already replaced (by an order an earlier run placed and lost): order without it.
          if (replaces && error instanceof AcmeProblem && error.is("alreadyReplaced"))
            return newOrder(client, signer, { identifiers });
          throw error;
        })
        .catch((error: unknown) => {
          // The CA answered with a problem: it placed nothing, so there is nothing to look for.
          if (error instanceof AcmeProblem) context.store.clearOpenOrder();
          throw error;
        });
      context.store.noteOpenOrder(placed.url);
      return orderedOutcome(placed, replaces);
    }
    case "authorize":
    case "await_authorization": {
      const { client, signer } = await context.acme();
      const order = requireOrder(state);
      let pending = false;
      for (const url of order.authorizations) {
        const authz = await getAuthorization(client, signer, url);
        const status = authz.resource.status;
        if (status === "valid") continue;
        if (status !== "pending") {
          const failed = authz.resource.challenges.find((c) => c.error);
          throw parseProblem(
            failed?.error ?? { detail: `the authorization is ${status}` },
            403,
            url,
          );
        }
        pending = true;
        const challenge = findChallenge(authz.resource, "http-01");
        if (!challenge?.token) {
          return {
            kind: "failure",
            failure: {
              severity: "unavailable",
              code: "acme:rejected_identifier",
              actionBy: "provider",
              detail: "The CA offered no HTTP-01 challenge for this name.",
            },
          };
        }
        // The token is stored before the CA is told to look, so the edge can answer at once.
        context.store.putChallenge(
          challenge.token,
          await keyAuthorization(challenge.token, signer.key.publicJwk),
        );
        // Answered once, by the authorize step (again only if a stop lost the record that it
        // was). Waiting, a challenge still pending only means the CA's validator has not picked
        // it up yet: answering again races it, and a CA refuses a challenge that moved on.
        if (state.phase === "authorize" && challenge.status === "pending")
          await answerOnce(client, signer, url, challenge.url);
      }
      if (pending) return { kind: "authorization_pending", ...retryAfter(undefined) };
      context.store.clearChallenges();
      return { kind: "authorized" };
    }
    case "finalize": {
      const { client, signer } = await context.acme();
      const orderRef = requireOrder(state);
      const order = await getOrder(client, signer, orderRef.url);
      switch (order.resource.status) {
        case "pending":
          return { kind: "authorization_pending" };
        case "invalid":
          return orderFailure(order.resource);
        case "processing":
        case "valid":
          // Finalized by an earlier run of this step that did not get to record it.
          return {
            kind: "finalized",
            status: order.resource.status,
            ...certificateOf(order.resource),
          };
        case "ready": {
          const keys = await keyPairForOrder(state, orderRef.url, context);
          const finalized = await finalizeOrder(
            client,
            signer,
            order,
            await createCsr(keys, [domain]),
          ).catch(async (error: unknown) => {
            // Refused because the order moved on meanwhile (finalized by a run that did not get
            // to record it): what the order says now decides, not the refusal.
            if (!movedOnRefusal(error)) throw error;
            const now = await getOrder(client, signer, orderRef.url);
            if (now.resource.status === "processing" || now.resource.status === "valid") return now;
            throw error;
          });
          const status = finalized.resource.status;
          if (status === "invalid") return orderFailure(finalized.resource);
          if (status !== "processing" && status !== "valid")
            return { kind: "authorization_pending" };
          return {
            kind: "finalized",
            status,
            ...certificateOf(finalized.resource),
            ...retryAfter(finalized.retryAfter),
          };
        }
        default:
          return exhaustive(order.resource.status);
      }
    }
    case "await_certificate": {
      const { client, signer } = await context.acme();
      const order = await getOrder(client, signer, requireOrder(state).url);
      if (order.resource.status === "invalid") return orderFailure(order.resource);
      if (order.resource.status === "valid" && order.resource.certificate) {
        return { kind: "certificate_ready", certificate: order.resource.certificate };
      }
      return { kind: "certificate_pending", ...retryAfter(order.retryAfter) };
    }
    case "download": {
      const { client, signer } = await context.acme();
      const orderRef = requireOrder(state);
      if (!orderRef.certificate)
        return { kind: "order_lost", detail: "The order has no certificate URL" };
      const chain = await downloadCertificate(client, signer, orderRef.certificate);
      const leaf = parseCertificate(chain.certificates[0] as Uint8Array);
      if (!leaf.dnsNames.includes(domain)) {
        return {
          kind: "failure",
          failure: {
            severity: "failed",
            code: "service:internal",
            actionBy: "provider",
            detail: `The CA's certificate does not name ${domain}.`,
          },
        };
      }
      const key = context.store.keyForOrder(orderRef.url);
      if (!key) return { kind: "order_lost", detail: "The key for this order is missing" };
      const certificate = {
        serial: leaf.serialHex,
        notBefore: leaf.notBefore.toISOString(),
        notAfter: leaf.notAfter.toISOString(),
        ariId: leaf.authorityKeyIdentifier
          ? ariCertificateId(leaf.authorityKeyIdentifier, leaf.serialNumber)
          : null,
        spread: Math.random(),
      };
      context.store.putCertificate({
        ...certificate,
        keyId: key.id,
        chainPem: chain.pem,
        issuer: leaf.issuerCommonName ?? null,
        names: leaf.dnsNames,
        orderUrl: orderRef.url,
      });
      // The order is done: the next one (a renewal) is a new order.
      context.store.clearOpenOrder();
      return { kind: "downloaded", certificate };
    }
    case "deploy": {
      const candidate = state.candidate;
      const stored = candidate ? context.store.certificate(candidate.serial) : null;
      if (!candidate || !stored)
        return { kind: "order_lost", detail: "The downloaded certificate is missing" };
      const receipt = await context.deployer().deploy({
        domain,
        serial: stored.serial,
        chainPem: stored.chainPem,
        privateKeyPem: async () =>
          toPem("PRIVATE KEY", await unwrapKey(await context.keyRing(), stored.wrappedKey, domain)),
      });
      context.store.activate(stored.serial);
      return { kind: "deployed", ...receipt };
    }
    case "installed":
      return renewalInfoOf(state, context);
    case "idle":
      throw new Error("nothing to perform in phase idle");
    default:
      return exhaustive(state.phase);
  }
}

/** What an order placed (or found again) means for the lifecycle. */
function orderedOutcome(placed: Fetched<Order>, replaces: string | undefined): Outcome {
  const { status } = placed.resource;
  if (status === "invalid") return orderFailure(placed.resource);
  return {
    kind: "ordered",
    status,
    order: {
      url: placed.url,
      authorizations: placed.resource.authorizations,
      finalize: placed.resource.finalize,
      ...(placed.resource.certificate ? { certificate: placed.resource.certificate } : {}),
    },
    ...retryAfter(placed.retryAfter),
    ...((placed.resource.replaces ?? replaces)
      ? { replaces: placed.resource.replaces ?? replaces }
      : {}),
  };
}

/**
 * The open order, if the CA still has it for exactly `domain` and it can lead to a certificate
 * (pending, ready, processing, or valid with its certificate not yet downloaded).
 */
async function reusableOrder(
  client: AcmeClient,
  signer: Signer,
  url: string,
  domain: string,
): Promise<Fetched<Order> | null> {
  let order: Fetched<Order>;
  try {
    order = await getOrder(client, signer, url);
  } catch (error) {
    // Gone (expired and deleted, or a CA that forgot it): a new order.
    if (isLostResource(error) || (error instanceof AcmeProblem && error.status === 404))
      return null;
    throw error;
  }
  const names = order.resource.identifiers.map((i) => i.value);
  if (names.length !== 1 || names[0] !== domain) return null;
  if (order.resource.status === "invalid") return null;
  if (order.resource.expires && Date.parse(order.resource.expires) <= Date.now()) return null;
  return order;
}

/**
 * Orders of the account read when looking for one a lost run placed: this many from each end of
 * its list (the RFC does not say which end is the newest).
 */
const ordersLookedAt = 20;

/**
 * A pending or ready order for exactly `domain` among the account's newest orders, when the CA
 * lists them (RFC 8555 §7.1.2.1; Pebble does). Let's Encrypt does not list orders, and reuses a
 * pending order for the same names itself, so placing again there costs no second order.
 */
async function liveOrderFor(
  client: AcmeClient,
  signer: Signer,
  domain: string,
): Promise<Fetched<Order> | null> {
  const ordersUrl = (await getAccount(client, signer)).resource.orders;
  if (!ordersUrl) return null;
  const listed = await listOrders(client, signer, ordersUrl);
  const urls = [
    ...new Set([...listed.slice(-ordersLookedAt).reverse(), ...listed.slice(0, ordersLookedAt)]),
  ];
  for (const url of urls) {
    const order = await getOrder(client, signer, url);
    const { status, identifiers } = order.resource;
    const names = identifiers.map((i) => i.value);
    if ((status === "pending" || status === "ready") && names.length === 1 && names[0] === domain)
      return order;
  }
  return null;
}

/**
 * Tells the CA the challenge is ready (RFC 8555 §7.5.1). When the CA refuses because the
 * challenge is no longer pending (it is being validated, or was, by an answer this object sent
 * before a stop lost the record of it), the authorization is read again and decides: carry on
 * if the challenge moved on, else the refusal stands.
 */
async function answerOnce(
  client: AcmeClient,
  signer: Signer,
  authorizationUrl: string,
  challengeUrl: string,
): Promise<void> {
  try {
    await answerChallenge(client, signer, challengeUrl);
  } catch (error) {
    if (!movedOnRefusal(error)) throw error;
    const now = await getAuthorization(client, signer, authorizationUrl);
    const challenge = now.resource.challenges.find((c) => c.url === challengeUrl);
    if (now.resource.status === "valid" || (challenge && challenge.status !== "pending")) return;
    throw error;
  }
}

/**
 * A refusal that may only mean the resource is past the state the request expects: Pebble and
 * Boulder answer malformed to an update of a challenge that is no longer pending, and RFC 8555
 * §7.4 orderNotReady to a finalize of an order that is not ready.
 */
const movedOnRefusal = (error: unknown): boolean =>
  error instanceof AcmeProblem &&
  error.status < 500 &&
  (error.is("malformed") || error.is("orderNotReady"));

/**
 * The CA's suggested renewal window for the serving certificate (RFC 9773). Trouble here never
 * fails the certificate: it only means asking again later (or, without ARI, not at all).
 */
async function renewalInfoOf(state: CertificateState, context: StepContext): Promise<Outcome> {
  const current = state.current;
  if (!current?.ariId) return { kind: "renewal_info_unavailable", permanent: true };
  const { client } = await context.acme();
  try {
    const info = await getRenewalInfo(client, current.ariId);
    const { start, end } = info.resource.suggestedWindow;
    const windowStart = new Date(start).toISOString();
    const windowEnd = new Date(end).toISOString();
    const unchanged =
      current.ari?.windowStart === windowStart && current.ari.windowEnd === windowEnd;
    return {
      kind: "renewal_info",
      windowStart,
      windowEnd,
      selected:
        unchanged && current.ari
          ? current.ari.selected
          : pointInWindow(windowStart, windowEnd, Math.random()),
      explanationUrl: info.resource.explanationURL ?? null,
      ...retryAfter(info.retryAfter),
    };
  } catch (error) {
    if (error instanceof RenewalInfoUnavailableError)
      return { kind: "renewal_info_unavailable", permanent: true };
    const later = error instanceof AcmeProblem ? error.retryAfter : undefined;
    return {
      kind: "renewal_info_unavailable",
      permanent: false,
      ...retryAfter(later ?? new Date(Date.now() + 60 * 60_000)),
    };
  }
}

/**
 * The key of this order: made, wrapped and stored before the CSR is sent, so that a step that
 * runs again after a crash finalizes (or downloads) with the same key, never an unknown one.
 */
async function keyPairForOrder(
  state: CertificateState,
  orderUrl: string,
  context: StepContext,
): Promise<CryptoKeyPair> {
  const ring = await context.keyRing();
  const existing = context.store.keyForOrder(orderUrl);
  if (existing) {
    const privateKey = await importPkcs8(await unwrapKey(ring, existing.wrapped, state.domain));
    const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["verify"],
    );
    return { privateKey, publicKey };
  }
  const keys = await generateKeyPair("ecdsa-p256");
  const id = hex(crypto.getRandomValues(new Uint8Array(8)));
  context.store.putKey({
    id,
    wrapped: await wrapKey(ring, await exportPkcs8(keys.privateKey), state.domain),
    orderUrl,
  });
  return keys;
}

function requireOrder(state: CertificateState) {
  if (!state.order) throw new Error(`phase ${state.phase} without an order`);
  return state.order;
}

/** An order the CA marked invalid, as the problem it recorded (performStep turns it into a failure). */
function orderFailure(order: Order): never {
  throw parseProblem(order.error ?? { detail: `the order is ${order.status}` }, 403);
}

const certificateOf = (order: Order) =>
  order.certificate ? { certificate: order.certificate } : {};
const retryAfter = (at: Date | undefined) => (at ? { retryAfter: at.toISOString() } : {});

function exhaustive(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`);
}
