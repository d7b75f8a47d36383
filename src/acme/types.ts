// The ACME resources as the RFCs define their JSON (RFC 8555 §7.1, RFC 9773 §4.2, and the
// profiles extension), checked with zod so that a field of the wrong type or a status the RFC
// does not define is a protocol error, not a surprise later. Unknown extra fields are kept.
import { z } from "zod";

const url = z.url();

export const DirectorySchema = z.looseObject({
  newNonce: url,
  newAccount: url,
  newOrder: url,
  newAuthz: url.optional(),
  revokeCert: url,
  keyChange: url,
  /** RFC 9773 §4: present when the CA offers renewal information. */
  renewalInfo: url.optional(),
  meta: z
    .looseObject({
      termsOfService: z.string().optional(),
      website: z.string().optional(),
      caaIdentities: z.array(z.string()).optional(),
      externalAccountRequired: z.boolean().optional(),
      /** draft-ietf-acme-profiles: profile name → description. */
      profiles: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});
export type Directory = z.infer<typeof DirectorySchema>;

const IdentifierSchema = z.looseObject({ type: z.string(), value: z.string() });
export type Identifier = z.infer<typeof IdentifierSchema>;

const ProblemDocumentSchema = z.looseObject({
  type: z.string().optional(),
  detail: z.string().optional(),
});

export const AccountSchema = z.looseObject({
  status: z.enum(["valid", "deactivated", "revoked"]),
  contact: z.array(z.string()).optional(),
  termsOfServiceAgreed: z.boolean().optional(),
  orders: z.string().optional(),
});
export type Account = z.infer<typeof AccountSchema>;

export const OrderSchema = z.looseObject({
  status: z.enum(["pending", "ready", "processing", "valid", "invalid"]),
  expires: z.string().optional(),
  identifiers: z.array(IdentifierSchema),
  notBefore: z.string().optional(),
  notAfter: z.string().optional(),
  error: ProblemDocumentSchema.optional(),
  authorizations: z.array(url),
  finalize: url,
  certificate: url.optional(),
  profile: z.string().optional(),
  replaces: z.string().optional(),
});
export type Order = z.infer<typeof OrderSchema>;
export type OrderStatus = Order["status"];

export const ChallengeSchema = z.looseObject({
  type: z.string(),
  url,
  status: z.enum(["pending", "processing", "valid", "invalid"]),
  token: z.string().optional(),
  validated: z.string().optional(),
  error: ProblemDocumentSchema.optional(),
});
export type Challenge = z.infer<typeof ChallengeSchema>;

export const AuthorizationSchema = z.looseObject({
  identifier: IdentifierSchema,
  status: z.enum(["pending", "valid", "invalid", "deactivated", "expired", "revoked"]),
  expires: z.string().optional(),
  challenges: z.array(ChallengeSchema),
  wildcard: z.boolean().optional(),
});
export type Authorization = z.infer<typeof AuthorizationSchema>;
export type AuthorizationStatus = Authorization["status"];

export const RenewalInfoSchema = z.looseObject({
  suggestedWindow: z.object({
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
  }),
  explanationURL: z.string().optional(),
});
export type RenewalInfo = z.infer<typeof RenewalInfoSchema>;

/** A resource as a server returned it, with where it lives and when to look at it again. */
export interface Fetched<T> {
  resource: T;
  url: string;
  /** The server's Retry-After, if it gave one. */
  retryAfter: Date | undefined;
}
