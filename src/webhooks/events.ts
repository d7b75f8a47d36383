// What a webhook is told: a tracking domain's certificate changed, or the check through a
// self-managed domain's own CDN or proxy started or stopped failing. The events are written by
// D1 triggers (migrations/0008_webhooks.sql) and sent in SparkPost's shape: a JSON array of
// {"msys": {"<event class>": {…}}}, so an endpoint that takes SparkPost's webhooks can take ours.

export const webhookEventTypes = [
  /** tls_status changed (pending → valid, valid → expired, …). */
  "tls_status_change",
  /** A valid domain's certificate was replaced by a renewed one. */
  "tls_certificate_renewed",
  /** The error changed (appeared, changed or cleared) while tls_status stayed the same. */
  "tls_error_change",
  /** A self-managed domain's check through the customer's proxy: first result, or a change. */
  "https_check_change",
] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** The event class in the payload (SparkPost nests each event under its class). */
export const eventClass = "tracking_domain_event";

export interface WebhookEvent {
  id: number;
  type: WebhookEventType;
  accountId: number;
  subaccountId: number;
  domain: string;
  tlsStatus: string;
  previousTlsStatus: string;
  errorCode: string | null;
  errorDetail: string | null;
  actionBy: string | null;
  issuedAt: string | null;
  expiresAt: string | null;
  renewsAt: string | null;
  /** The last check through the customer's proxy (self-managed domains); null error: passed. */
  https: {
    checkedAt: string;
    errorCode: string | null;
    detail: string | null;
    previousErrorCode: string | null;
  } | null;
  createdAt: string;
}

export interface EventPayload {
  msys: { [eventClass]: Record<string, unknown> };
}

/** One event as the endpoint receives it. */
export function payloadOf(event: WebhookEvent): EventPayload {
  return {
    msys: {
      [eventClass]: {
        type: event.type,
        event_id: String(event.id),
        timestamp: event.createdAt,
        domain: event.domain,
        subaccount_id: event.subaccountId,
        tls_status: event.tlsStatus,
        previous_tls_status: event.previousTlsStatus,
        tls_certificate: {
          issued_at: event.issuedAt,
          expires_at: event.expiresAt,
          renews_at: event.renewsAt,
          error_code: event.errorCode,
          error_detail: event.errorDetail,
          action_by: event.actionBy,
        },
        ...(event.https
          ? {
              https_check: {
                passed: event.https.errorCode === null,
                checked_at: event.https.checkedAt,
                error_code: event.https.errorCode,
                detail: event.https.detail,
                previous_error_code: event.https.previousErrorCode,
              },
            }
          : {}),
      },
    },
  };
}

/** What POST /webhooks/{id}/validate sends: a made-up event that no domain had. */
export function sampleEvent(now: Date): WebhookEvent {
  return {
    id: 0,
    type: "tls_status_change",
    accountId: 0,
    subaccountId: 0,
    domain: "track.example.com",
    tlsStatus: "valid",
    previousTlsStatus: "pending",
    errorCode: null,
    errorDetail: null,
    actionBy: null,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 90 * 86_400_000).toISOString(),
    renewsAt: new Date(now.getTime() + 60 * 86_400_000).toISOString(),
    https: null,
    createdAt: now.toISOString(),
  };
}
