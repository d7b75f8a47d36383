// Authorizations and challenges (RFC 8555 §7.5, §8.3): read them, answer HTTP-01, deactivate.
import { type AcmeClient, parseJson, type Signer } from "./client";
import { postAsGet } from "./jws";
import {
  type Authorization,
  AuthorizationSchema,
  type Challenge,
  ChallengeSchema,
  type Fetched,
} from "./types";

export async function getAuthorization(
  client: AcmeClient,
  signer: Signer,
  url: string,
): Promise<Fetched<Authorization>> {
  const response = await client.post(url, signer, postAsGet);
  return {
    resource: parseJson(response, AuthorizationSchema, "authorization", url),
    url,
    retryAfter: response.retryAfter,
  };
}

/** The authorization's challenge of `type` (e.g. "http-01"), if the server offers it. */
export function findChallenge(authorization: Authorization, type: string): Challenge | undefined {
  return authorization.challenges.find((c) => c.type === type);
}

/** §7.5.1: "The client indicates to the server that it is ready for the challenge validation by sending an empty JSON body ({})". */
export async function answerChallenge(
  client: AcmeClient,
  signer: Signer,
  challengeUrl: string,
): Promise<Fetched<Challenge>> {
  const response = await client.post(challengeUrl, signer, {});
  return {
    resource: parseJson(response, ChallengeSchema, "challenge", challengeUrl),
    url: challengeUrl,
    retryAfter: response.retryAfter,
  };
}

/** §7.5.2: give up an authorization (e.g. when an order is abandoned). */
export async function deactivateAuthorization(
  client: AcmeClient,
  signer: Signer,
  url: string,
): Promise<Fetched<Authorization>> {
  const response = await client.post(url, signer, { status: "deactivated" });
  return {
    resource: parseJson(response, AuthorizationSchema, "authorization", url),
    url,
    retryAfter: response.retryAfter,
  };
}
