// A straight-line issuance with the ACME client, for tests and the benchmark: order, answer
// HTTP-01, poll, finalize, download. It sleeps between polls, which the product never does (the
// Durable Object turns each poll into an alarm). No Node or Workers imports: it runs in both.
import { answerChallenge, findChallenge, getAuthorization } from "../../src/acme/authorization";
import { type DownloadedCertificate, downloadCertificate } from "../../src/acme/certificate";
import type { AcmeClient, Signer } from "../../src/acme/client";
import { keyAuthorization } from "../../src/acme/jws";
import { finalizeOrder, getOrder, newOrder } from "../../src/acme/order";
import { nextPollAt, type PollPolicy } from "../../src/acme/poll";
import { AcmeProblem, parseProblem } from "../../src/acme/problem";
import type { Authorization, Fetched, Order } from "../../src/acme/types";
import { createCsr } from "../../src/pki/csr";
import { generateKeyPair, type KeyAlgorithm } from "../../src/pki/keys";

export interface Http01Responder {
  present(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

export interface IssueOptions {
  client: AcmeClient;
  signer: Signer;
  names: string[];
  http01: Http01Responder;
  keyAlgorithm?: KeyAlgorithm;
  profile?: string;
  replaces?: string;
  preferredIssuer?: string;
  poll?: PollPolicy;
  /** Give up after this long. */
  deadlineMs?: number;
}

export interface Issued {
  order: Fetched<Order>;
  certificate: DownloadedCertificate;
  keys: CryptoKeyPair;
}

const sleepUntil = (at: Date) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at.getTime() - Date.now())));

export async function issueCertificate(options: IssueOptions): Promise<Issued> {
  const { client, signer } = options;
  const poll = options.poll ?? { firstDelayMs: 25, maxDelayMs: 1000 };
  const deadline = Date.now() + (options.deadlineMs ?? 60_000);
  const checkDeadline = (what: string) => {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
  };
  const presented: string[] = [];
  try {
    let order = await newOrder(client, signer, {
      identifiers: options.names.map((value) => ({ type: "dns", value })),
      ...(options.profile ? { profile: options.profile } : {}),
      ...(options.replaces ? { replaces: options.replaces } : {}),
    });
    for (const url of order.resource.authorizations) {
      let authz = await getAuthorization(client, signer, url);
      if (authz.resource.status === "valid") continue;
      const challenge = findChallenge(authz.resource, "http-01");
      if (!challenge?.token)
        throw new Error(`no http-01 challenge for ${authz.resource.identifier.value}`);
      await options.http01.present(
        challenge.token,
        await keyAuthorization(challenge.token, signer.key.publicJwk),
      );
      presented.push(challenge.token);
      await answerChallenge(client, signer, challenge.url);
      for (let attempt = 0; authz.resource.status === "pending"; attempt++) {
        checkDeadline("the authorization");
        await sleepUntil(nextPollAt(new Date(), attempt, authz.retryAfter, poll));
        authz = await getAuthorization(client, signer, url);
      }
      if (authz.resource.status !== "valid") throw authorizationProblem(authz);
    }
    for (let attempt = 0; order.resource.status === "pending"; attempt++) {
      checkDeadline("the order to become ready");
      await sleepUntil(nextPollAt(new Date(), attempt, order.retryAfter, poll));
      order = await getOrder(client, signer, order.url);
    }
    const keys = await generateKeyPair(options.keyAlgorithm);
    if (order.resource.status === "ready") {
      order = await finalizeOrder(client, signer, order, await createCsr(keys, options.names));
    }
    for (let attempt = 0; order.resource.status === "processing"; attempt++) {
      checkDeadline("the certificate");
      await sleepUntil(nextPollAt(new Date(), attempt, order.retryAfter, poll));
      order = await getOrder(client, signer, order.url);
    }
    if (order.resource.status !== "valid" || !order.resource.certificate) {
      throw parseProblem(
        order.resource.error ?? { detail: `order ended ${order.resource.status}` },
        403,
        order.url,
      );
    }
    const certificate = await downloadCertificate(client, signer, order.resource.certificate, {
      ...(options.preferredIssuer ? { preferredIssuer: options.preferredIssuer } : {}),
    });
    return { order, certificate, keys };
  } finally {
    await Promise.all(presented.map((token) => options.http01.remove(token)));
  }
}

function authorizationProblem(authz: Fetched<Authorization>): AcmeProblem {
  const failed = authz.resource.challenges.find((c) => c.error);
  return parseProblem(
    failed?.error ?? { detail: `authorization ${authz.resource.status}` },
    403,
    authz.url,
  );
}

export { AcmeProblem };
