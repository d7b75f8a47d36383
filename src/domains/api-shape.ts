// The tracking domain as the API shows it: SparkPost's fields (domain, port, secure, default,
// status) and ours (https_mode, region, endpoint, tls_certificate, the DNS record to add and the
// last DNS check). The zod schemas here also document the API (OpenAPI).
import { z } from "@hono/zod-openapi";
import type { Config } from "../config";
import { stuckAfterMs } from "../issuance/machine";
import type { HttpsProbeResult } from "./https-probe";
import {
  actionParties,
  type CnameStatus,
  complianceStatuses,
  endpointsOf,
  errorCodes,
  httpsModes,
  ownershipStatuses,
  regions,
  servesHttps,
  type TrackingDomain,
  tlsStatuses,
} from "./model";
import { type OwnershipCheck, ownershipRecord } from "./ownership";
import type { CnameVerification } from "./verification";

const timestamp = z.string().openapi({ format: "date-time", example: "2026-11-26T14:00:00.000Z" });
const errorCode = z.enum(errorCodes).nullable();

/**
 * SparkPost's cname_status: unverified until the first check, then valid or invalid. (Its
 * `pending` is a check in progress; ours answer at once, so it is never shown.)
 */
const CnameStatusSchema = z.enum(["unverified", "pending", "valid", "invalid"]).openapi({
  description: "unverified until the first check; valid when the CNAME reaches our endpoint",
});

const sparkPostCnameStatus = (status: CnameStatus) =>
  status === "pending" ? ("unverified" as const) : status;

export const TlsCertificateSchema = z
  .object({
    issued_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
    renews_at: timestamp.nullable(),
    error_code: errorCode,
    error_detail: z.string().nullable(),
    action_by: z
      .enum(actionParties)
      .nullable()
      .openapi({ description: "Who must act to fix error_code" }),
    step: z
      .string()
      .nullable()
      .openapi({ description: "The lifecycle step in progress, while there is one" }),
    stuck: z.boolean().openapi({ description: "Pending without progress for 30 minutes" }),
  })
  .openapi("TlsCertificate");

const HttpsCheckSchema = z.object({
  checked_at: timestamp,
  passed: z.boolean(),
  error_code: z
    .enum(["https:dns", "https:tcp", "https:tls", "https:http", "https:proxy", "https:edge"])
    .nullable()
    .openapi({
      description:
        "Which part failed: DNS, TCP, TLS, the HTTP answer, the proxy, or our edge (it does not route the name to us until edge_ownership's TXT record is found)",
    }),
  detail: z.string(),
});

export const OwnershipSchema = z
  .object({
    name: z.string().openapi({ example: "_tracking-edge.track.example.com" }),
    value: z.string().openapi({
      description: "The TXT value that proves the name's owner wants it in this account",
      example: "tracking-edge-account=5d41402abc4b2a76b9719d911017c592",
    }),
    status: z.enum(ownershipStatuses).openapi({
      description:
        "not_required: nobody else held the name; pending: the TXT record is needed and was not found; valid: found; invalid: other values found",
    }),
    checked_at: timestamp.nullable(),
    found: z.array(z.string()).openapi({ description: "The TXT values found at the last check" }),
  })
  .openapi("Ownership");

export const EdgeOwnershipSchema = z
  .object({
    status: z.string().openapi({
      description:
        "The edge's word for the name (Cloudflare's custom hostname status: pending, active, moved, blocked…; deleted when it no longer lists it)",
      example: "pending",
    }),
    routed: z.boolean().openapi({ description: "Whether the edge routes the name to us now" }),
    dns_record: z
      .object({
        type: z.literal("TXT"),
        name: z.string().openapi({ example: "_cf-custom-hostname.track.example.com" }),
        value: z.string().openapi({ example: "0e2d5a7f-1548-4f27-8c05-b577cb14f4ec" }),
      })
      .nullable()
      .openapi({ description: "The record the edge looks for; add it while routed is false" }),
    action_by: z.enum(actionParties).nullable(),
    detail: z.string(),
    checked_at: timestamp,
  })
  .openapi("EdgeOwnership");

export const TrackingDomainSchema = z
  .object({
    domain: z.string().openapi({ example: "track.example.com" }),
    port: z
      .union([z.literal(80), z.literal(443)])
      .openapi({ description: "Port of tracking links: 443 while they use https" }),
    secure: z
      .boolean()
      .openapi({ description: "Whether tracking links on this domain use https right now" }),
    https_mode: z.enum(httpsModes),
    default: z.boolean(),
    subaccount_id: z.number().int().openapi({ description: "0 for the primary account" }),
    region: z.enum(regions),
    endpoint: z.string().openapi({
      description:
        "The CNAME target this domain must point at (for self-managed HTTPS: where the proxy forwards to); the account's own endpoint when it has one",
      example: "v2.track-endpoint.test",
    }),
    dns_record: z.object({ type: z.literal("CNAME"), name: z.string(), value: z.string() }),
    ownership: OwnershipSchema.openapi({
      description:
        "The TXT record that proves the name is this account's: needed when another account held the name, to claim it, or when the account requires it",
    }),
    edge_ownership: EdgeOwnershipSchema.nullable().openapi({
      description:
        "Self-managed HTTPS on Cloudflare: the edge routes a name behind your CDN only once this TXT record proves it yours; null where it is not needed",
    }),
    status: z.object({
      verified: z.boolean(),
      cname_status: CnameStatusSchema,
      compliance_status: z.enum(complianceStatuses),
      tls_status: z.enum(tlsStatuses),
    }),
    uses_managed_certificate: z.boolean(),
    tls_certificate: TlsCertificateSchema,
    dns_check: z
      .object({
        checked_at: timestamp,
        found: z.array(z.string()),
        error_code: errorCode,
        detail: z.string(),
      })
      .nullable()
      .openapi({ description: "What the last verification found; null before the first one" }),
    https_check: HttpsCheckSchema.nullable().openapi({
      description:
        "Self-managed HTTPS: the last probe through the customer's proxy; null before the first one",
    }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .openapi("TrackingDomain");

export type ApiTrackingDomain = z.infer<typeof TrackingDomainSchema>;

export function presentTrackingDomain(
  d: TrackingDomain,
  config: Config,
  now: Date = new Date(),
): ApiTrackingDomain {
  const stuck =
    d.tls.status === "pending" &&
    d.tls.progressAt !== null &&
    now.getTime() - Date.parse(d.tls.progressAt) > stuckAfterMs;
  const secure = servesHttps(d);
  const endpoint = endpointsOf(d, config.endpoints).v2;
  return {
    domain: d.domain,
    port: secure ? 443 : 80,
    secure,
    https_mode: d.httpsMode,
    default: d.isDefault,
    subaccount_id: d.subaccountId,
    region: d.region,
    endpoint,
    dns_record: { type: "CNAME", name: d.domain, value: endpoint },
    ownership: presentOwnership(d, config),
    edge_ownership: presentEdgeOwnership(d),
    status: {
      verified: d.verified,
      cname_status: sparkPostCnameStatus(d.cnameStatus),
      compliance_status: d.complianceStatus,
      tls_status: d.tls.status,
    },
    uses_managed_certificate: d.httpsMode === "managed",
    tls_certificate: {
      issued_at: d.tls.issuedAt,
      expires_at: d.tls.expiresAt,
      renews_at: d.tls.renewsAt,
      error_code: d.tls.errorCode,
      error_detail:
        stuck && !d.tls.errorDetail
          ? `No progress for more than 30 minutes; stuck at step ${d.tls.step}.`
          : d.tls.errorDetail,
      action_by: stuck && !d.tls.actionBy ? "provider" : d.tls.actionBy,
      step: d.tls.step,
      stuck,
    },
    dns_check: d.lastDnsCheck && {
      checked_at: d.lastDnsCheck.checkedAt,
      found: d.lastDnsCheck.chain,
      error_code: d.lastDnsCheck.errorCode,
      detail: d.lastDnsCheck.detail,
    },
    https_check: d.lastHttpsCheck && {
      checked_at: d.lastHttpsCheck.checkedAt,
      passed: d.lastHttpsCheck.errorCode === null,
      error_code: d.lastHttpsCheck.errorCode as z.infer<typeof HttpsCheckSchema>["error_code"],
      detail: d.lastHttpsCheck.detail,
    },
    created_at: d.createdAt,
    updated_at: d.updatedAt,
  };
}

function presentEdgeOwnership(d: TrackingDomain): z.infer<typeof EdgeOwnershipSchema> | null {
  const a = d.httpsMode === "self_managed" ? d.edgeAdmission : null;
  if (!a) return null;
  return {
    status: a.status,
    routed: a.active,
    dns_record: a.record && { type: "TXT", ...a.record },
    // A record to add, or a verify to start again, is the customer's; a name the edge blocks is
    // ours to take up with it.
    action_by: a.active ? null : a.status.includes("blocked") ? "provider" : "customer",
    detail: a.detail,
    checked_at: a.checkedAt,
  };
}

function presentOwnership(d: TrackingDomain, config: Config): z.infer<typeof OwnershipSchema> {
  const record = ownershipRecord(config.ownershipTxtLabel, d.domain, {
    id: d.accountId,
    createdAt: d.accountCreatedAt,
  });
  return {
    ...record,
    status: d.ownership.status,
    checked_at: d.ownership.checkedAt,
    found: d.ownership.found,
  };
}

export const VerificationSchema = z
  .object({
    verified: z.boolean(),
    cname_status: CnameStatusSchema,
    compliance_status: z.enum(complianceStatuses),
    dns: z.object({
      expected: z.string().openapi({ description: "The CNAME target we look for" }),
      found: z
        .array(z.string())
        .openapi({ description: "The domain and each CNAME target found, in order" }),
      endpoint: z
        .enum(["v2", "standard"])
        .nullable()
        .openapi({ description: "Which of our endpoints the chain reached" }),
      error_code: errorCode,
      detail: z.string(),
      fix: z.string().nullable(),
      action_by: z.enum(actionParties).nullable(),
    }),
    ownership: OwnershipSchema.omit({ checked_at: true })
      .extend({
        detail: z.string(),
        fix: z.string().nullable(),
        action_by: z.enum(actionParties).nullable(),
      })
      .openapi({
        description:
          "The ownership TXT record: whether the name needs it, what was found and the fix; without it the domain is not verified",
      }),
    https: z
      .object({
        passed: z.boolean(),
        error_code: HttpsCheckSchema.shape.error_code,
        detail: z.string(),
        address: z.string().nullable(),
        certificate: z
          .object({
            names: z.array(z.string()),
            issuer: z.string().nullable(),
            not_before: timestamp,
            not_after: timestamp,
          })
          .nullable()
          .openapi({
            description:
              "The certificate the proxy presented, when it could be read (TLS failed, or the probe passed and the proxy speaks TLS 1.2)",
          }),
      })
      .nullable()
      .openapi({
        description:
          "Self-managed HTTPS only: the probe through the customer's proxy, which alone decides verified",
      }),
  })
  .openapi("Verification");

export function presentVerification(
  d: TrackingDomain,
  config: Config,
  v: CnameVerification,
  probe: HttpsProbeResult | null = null,
  ownership: OwnershipCheck | null = null,
): z.infer<typeof VerificationSchema> {
  const record = presentOwnership(d, config);
  return {
    ownership: {
      name: record.name,
      value: record.value,
      status: d.ownership.status,
      found: ownership?.found ?? record.found,
      ...ownershipVerdict(d, record, ownership),
    },
    https: probe && {
      passed: probe.ok,
      error_code: probe.errorCode ?? null,
      detail: probe.detail,
      address: probe.address ?? null,
      certificate: probe.certificate
        ? {
            names: probe.certificate.names,
            issuer: probe.certificate.issuer,
            not_before: probe.certificate.notBefore,
            not_after: probe.certificate.notAfter,
          }
        : null,
    },
    verified: d.verified,
    cname_status: sparkPostCnameStatus(d.cnameStatus),
    compliance_status: d.complianceStatus,
    dns: {
      expected: v.expected,
      found: v.chain,
      endpoint: v.endpoint,
      error_code: v.errorCode,
      detail: v.detail,
      fix: v.fix,
      action_by: v.actionBy,
    },
  };
}

/** What the ownership part of a verification says: the check's own words, or the status's. */
function ownershipVerdict(
  d: TrackingDomain,
  record: { name: string; value: string },
  check: OwnershipCheck | null,
): { detail: string; fix: string | null; action_by: "customer" | "provider" | null } {
  if (check) return { detail: check.detail, fix: check.fix, action_by: check.actionBy };
  switch (d.ownership.status) {
    case "not_required":
      return {
        detail: "No ownership record is needed: no other account held this name.",
        fix: null,
        action_by: null,
      };
    case "valid":
      return {
        detail: `Ownership was proven with the TXT record ${record.name}.`,
        fix: null,
        action_by: null,
      };
    case "pending":
    case "invalid":
      return {
        detail: `The TXT record ${record.name} is needed and was not found.`,
        fix: `Add a TXT record ${record.name} with the value ${record.value}, then verify again.`,
        action_by: "customer",
      };
    default: {
      const unreachable: never = d.ownership.status;
      throw new Error(`unknown ownership status ${String(unreachable)}`);
    }
  }
}
