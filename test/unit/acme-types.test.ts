// The ACME resources' shapes: every status the RFCs define is read, a required field missing or
// of the wrong type is refused, and fields the RFCs do not name are kept.
import { describe, expect, it } from "vitest";
import type { ZodType } from "zod";
import {
  AccountSchema,
  AuthorizationSchema,
  ChallengeSchema,
  DirectorySchema,
  OrderSchema,
  RenewalInfoSchema,
} from "../../src/acme/types";

const ca = "https://ca.example";
const directory = {
  newNonce: `${ca}/nonce`,
  newAccount: `${ca}/acct`,
  newOrder: `${ca}/order`,
  revokeCert: `${ca}/revoke`,
  keyChange: `${ca}/key-change`,
  meta: { caaIdentities: ["ca.example"], profiles: { classic: "90 days" } },
};
const challenge = { type: "http-01", url: `${ca}/chall/1`, status: "pending", token: "t" };
const order = {
  status: "pending",
  identifiers: [{ type: "dns", value: "track.example.com" }],
  authorizations: [`${ca}/authz/1`],
  finalize: `${ca}/order/1/finalize`,
};
const authorization = {
  identifier: { type: "dns", value: "track.example.com" },
  status: "pending",
  challenges: [challenge],
};
const renewalInfo = {
  suggestedWindow: { start: "2026-12-01T00:00:00Z", end: "2026-12-03T00:00:00+02:00" },
};

const cases: Array<{
  name: string;
  schema: ZodType;
  valid: Record<string, unknown>;
  statuses?: string[];
  refused: Array<[string, Record<string, unknown>]>;
}> = [
  {
    name: "directory",
    schema: DirectorySchema,
    valid: directory,
    refused: [
      ["no newNonce", { ...directory, newNonce: undefined }],
      ["a newOrder that is not a URL", { ...directory, newOrder: "order" }],
      [
        "caaIdentities that are not a list",
        { ...directory, meta: { caaIdentities: "ca.example" } },
      ],
      ["a profile description that is not text", { ...directory, meta: { profiles: { a: 1 } } }],
    ],
  },
  {
    name: "account",
    schema: AccountSchema,
    valid: { status: "valid", orders: `${ca}/acct/1/orders` },
    statuses: ["valid", "deactivated", "revoked"],
    refused: [
      ["no status", { orders: `${ca}/acct/1/orders` }],
      ["a status the RFC does not define", { status: "pending" }],
    ],
  },
  {
    name: "order",
    schema: OrderSchema,
    valid: order,
    statuses: ["pending", "ready", "processing", "valid", "invalid"],
    refused: [
      ["an identifier without a value", { ...order, identifiers: [{ type: "dns" }] }],
      ["an error whose type is not text", { ...order, error: { type: 5 } }],
      ["no finalize URL", { ...order, finalize: undefined }],
      ["a status the RFC does not define", { ...order, status: "deactivated" }],
    ],
  },
  {
    name: "challenge",
    schema: ChallengeSchema,
    valid: challenge,
    statuses: ["pending", "processing", "valid", "invalid"],
    refused: [
      ["no URL", { ...challenge, url: undefined }],
      ["no type", { ...challenge, type: undefined }],
    ],
  },
  {
    name: "authorization",
    schema: AuthorizationSchema,
    valid: authorization,
    statuses: ["pending", "valid", "invalid", "deactivated", "expired", "revoked"],
    refused: [
      ["a challenge without a URL", { ...authorization, challenges: [{ ...challenge, url: 1 }] }],
      ["no identifier", { ...authorization, identifier: undefined }],
      ["a status the RFC does not define", { ...authorization, status: "ready" }],
    ],
  },
  {
    name: "renewal information",
    schema: RenewalInfoSchema,
    valid: renewalInfo,
    refused: [
      ["no window", {}],
      ["a window without an end", { suggestedWindow: { start: "2026-12-01T00:00:00Z" } }],
      [
        "a start that is not a date",
        { suggestedWindow: { start: "soon", end: "2026-12-03T00:00:00Z" } },
      ],
    ],
  },
];

describe.each(cases)("the $name", ({ schema, valid, statuses = [], refused }) => {
  it("is read as the RFC writes it, keeping fields it does not name", () => {
    const extended = { ...valid, vendorField: "kept" };
    expect(schema.parse(extended)).toEqual(extended);
  });

  it.each(statuses)("is read with status %s", (status) => {
    expect(schema.safeParse({ ...valid, status }).success).toBe(true);
  });

  it.each(refused)("is refused with %s", (_, value) => {
    expect(schema.safeParse(value).success).toBe(false);
  });
});
