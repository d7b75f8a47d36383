// What a webhook is told: a tracking domain's certificate changed, the check through a
// self-managed domain's own CDN or proxy started or stopped failing, or another account claimed
// the domain; and, when asked for, each click and open. The events are written by D1 triggers (migrations/0008_webhooks.sql) and sent
// in SparkPost's shape: a JSON array of {"msys": {"<event class>": {…}}}, so an endpoint that
// takes SparkPost's webhooks can take ours (clicks and opens as its track_event class).

/** What a webhook gets when it does not say: the domain's events, not the clicks. */
export const certificateEventTypes = [
  /** tls_status changed (pending → valid, valid → expired, …). */
  "tls_status_change",
  /** A valid domain's certificate was replaced by a renewed one. */
  "tls_certificate_renewed",
  /** The error changed (appeared, changed or cleared) while tls_status stayed the same. */
  "tls_error_change",
  /** A self-managed domain's check through the customer's proxy: first result, or a change. */
  "https_check_change",
  /** Another account proved it owns the name and claimed it: this account's domain ended. */
  "domain_claimed",
] as const;

export const webhookEventTypes = [...certificateEventTypes, "click", "open"] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/**
 * SparkPost's event types for what this service never sees (sending, bounces, relays, ...), from
 * its Webhooks reference: a SparkPost client may ask for them, and they are ignored.
 */
export const sparkPostOnlyEventTypes = [
  "delivery",
  "injection",
  "bounce",
  "delay",
  "rejection",
  "policy_rejection",
  "out_of_band",
  "spam_complaint",
  "initial_open",
  "amp_open",
  "amp_initial_open",
  "amp_click",
  "generation_failure",
  "generation_rejection",
  "list_unsubscribe",
  "link_unsubscribe",
  "relay_injection",
  "relay_rejection",
  "relay_delivery",
  "relay_tempfail",
  "relay_permfail",
  "sms_status",
  "ab_test_completed",
  "ab_test_cancelled",
] as const;

/** The event classes in the payload (SparkPost nests each event under its class). */
export const eventClasses = {
  certificate: "tracking_domain_event",
  engagement: "track_event",
} as const;

export interface WebhookEvent {
  id: number;
  type: WebhookEventType;
  accountId: number;
  subaccountId: number;
  domain: string;
  /** Certificate events: the status after and before (null for clicks and opens). */
  tlsStatus: string | null;
  previousTlsStatus: string | null;
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
  /** Clicks and opens: the engagement event as written (see migrations/0008_webhooks.sql). */
  engagement: EngagementDetails | null;
  createdAt: string;
}

export interface EngagementDetails {
  event_id: string;
  /** Set on a reference to an EU event, whose other fields are read from DB_EU at delivery. */
  region?: "eu";
  occurred_at: string;
  message_id: string | null;
  recipient_id: string | null;
  link_name: string | null;
  target_url: string | null;
  user_agent: string | null;
  ip_prefix: string | null;
  secure: number;
}

export interface EventPayload {
  msys: Record<string, Record<string, unknown>>;
}

/** One event as the endpoint receives it. */
export function payloadOf(event: WebhookEvent): EventPayload {
  if (event.type === "domain_claimed") {
    return {
      msys: {
        [eventClasses.certificate]: {
          type: event.type,
          event_id: String(event.id),
          timestamp: event.createdAt,
          domain: event.domain,
          subaccount_id: event.subaccountId,
          tls_status: event.tlsStatus,
          previous_tls_status: event.previousTlsStatus,
          detail: event.errorDetail,
        },
      },
    };
  }
  const e = event.engagement;
  if (e) {
    // SparkPost's field names where it has the field; no raw IP address, only its network.
    return {
      msys: {
        [eventClasses.engagement]: {
          type: event.type,
          event_id: e.event_id,
          timestamp: e.occurred_at,
          tracking_domain: event.domain,
          subaccount_id: event.subaccountId,
          message_id: e.message_id,
          recipient_id: e.recipient_id,
          target_link_name: e.link_name,
          target_link_url: e.target_url,
          user_agent: e.user_agent,
          ip_prefix: e.ip_prefix,
          secure: e.secure === 1,
        },
      },
    };
  }
  return {
    msys: {
      [eventClasses.certificate]: {
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

/** What each event type means, for GET /webhooks/events/documentation. */
export const eventDescriptions: Record<WebhookEventType, string> = {
  tls_status_change: "tls_status changed: pending → valid, valid → expired, failed → valid, …",
  tls_certificate_renewed: "A valid domain's certificate was replaced by a renewed one",
  tls_error_change:
    "The error appeared, changed or cleared while tls_status stayed the same (a renewal failing while the old certificate serves)",
  https_check_change:
    "A self-managed domain's first check through the customer's CDN or proxy, then each change of its result",
  domain_claimed:
    "Another account proved with a DNS TXT record that it owns the name and claimed it: this account's domain ended, its certificate left the edge and its links stopped redirecting",
  click: "A tracked link was clicked (every click)",
  open: "An open pixel was loaded (every open)",
};

/**
 * A made-up event of `type` that no domain had: what POST /webhooks/{id}/validate sends and
 * GET /webhooks/events/samples shows.
 */
export function sampleEvent(type: WebhookEventType, now: Date): WebhookEvent {
  const at = now.toISOString();
  const days = (n: number) => new Date(now.getTime() + n * 86_400_000).toISOString();
  const base: WebhookEvent = {
    id: 0,
    type,
    accountId: 0,
    subaccountId: 0,
    domain: "track.example.com",
    tlsStatus: "valid",
    previousTlsStatus: "pending",
    errorCode: null,
    errorDetail: null,
    actionBy: null,
    issuedAt: at,
    expiresAt: days(90),
    renewsAt: days(60),
    https: null,
    engagement: null,
    createdAt: at,
  };
  switch (type) {
    case "tls_status_change":
      return base;
    case "tls_certificate_renewed":
      return { ...base, previousTlsStatus: "valid" };
    case "tls_error_change":
      return {
        ...base,
        previousTlsStatus: "valid",
        errorCode: "dns:cname_missing",
        errorDetail:
          "track.example.com has no CNAME record; add one pointing at the V2 endpoint so that the certificate can renew",
        actionBy: "customer",
      };
    case "https_check_change":
      return {
        ...base,
        tlsStatus: "unknown",
        previousTlsStatus: "unknown",
        issuedAt: null,
        expiresAt: null,
        renewsAt: null,
        https: {
          checkedAt: at,
          errorCode: "https:tls",
          detail: "The certificate served for track.example.com expired on 2026-01-01.",
          previousErrorCode: null,
        },
      };
    case "domain_claimed":
      return {
        ...base,
        tlsStatus: "unknown",
        previousTlsStatus: "valid",
        errorDetail:
          "Another account proved it owns track.example.com with the DNS record _tracking-edge.track.example.com and claimed it. This account's domain ended: its certificate was taken off the edge and links minted for it no longer redirect.",
      };
    case "click":
    case "open":
      return {
        ...base,
        tlsStatus: null,
        previousTlsStatus: null,
        engagement: {
          event_id: "sample",
          occurred_at: at,
          message_id: "message-1",
          recipient_id: "recipient-1",
          link_name: type === "click" ? "spring-sale" : null,
          target_url: type === "click" ? "https://shop.example.com/spring" : null,
          user_agent: "Mozilla/5.0",
          ip_prefix: "192.0.2.0/24",
          secure: 1,
        },
      };
  }
}

/** What the event classes are, as GET /webhooks/events/documentation names them. */
const classDocumentation: Record<string, { display_name: string; description: string }> = {
  [eventClasses.certificate]: {
    display_name: "Tracking Domain Events",
    description:
      "Tracking domain events tell of a domain's certificate and HTTPS: its status, renewals, errors, the checks through a self-managed domain's proxy, and claims by another account.",
  },
  [eventClasses.engagement]: {
    display_name: "Engagement Events",
    description: "Engagement events are the recipients' clicks and opens on tracked links.",
  },
};

/** What each field of an event means. */
const fieldDescriptions: Record<string, string> = {
  type: "Type of event",
  event_id: "Unique identifier of the event",
  timestamp: "When the event happened (ISO 8601, UTC)",
  domain: "The tracking domain",
  tracking_domain: "The tracking domain the click or open came through",
  subaccount_id: "The subaccount that holds the domain (0: the primary account)",
  tls_status: "The domain's TLS status after the change",
  previous_tls_status: "The domain's TLS status before the change",
  tls_certificate: "The certificate's dates, and the error with who must act, if any",
  https_check: "The last check through the customer's CDN or proxy (self-managed HTTPS)",
  detail: "What happened, in words",
  message_id: "The message the tracked link was in, as given when the link was made",
  recipient_id: "The recipient, as given when the link was made",
  target_link_name: "The link's name, as given when the link was made",
  target_link_url: "Where the link leads",
  user_agent: "The client's User-Agent",
  ip_prefix: "The client's network (/24 or /48), never its address",
  secure: "Whether the link was followed over HTTPS",
};

const displayName = (type: string) =>
  `${type.charAt(0).toUpperCase()}${type.slice(1).replaceAll("_", " ")}`;

export interface EventClassDocumentation {
  display_name: string;
  description: string;
  events: Record<
    string,
    {
      display_name: string;
      description: string;
      /** Ours: sent to a webhook that names no events. */
      default: boolean;
      event: Record<string, { description: string; sampleValue: unknown }>;
    }
  >;
}

/**
 * GET /webhooks/events/documentation in SparkPost's shape: each event class, its event types,
 * and each type's fields with a description and a sample value (from the type's sample event).
 */
export function eventDocumentation(now: Date): Record<string, EventClassDocumentation> {
  const classes: Record<string, EventClassDocumentation> = {};
  for (const type of webhookEventTypes) {
    const [eventClass, fields] = Object.entries(payloadOf(sampleEvent(type, now)).msys)[0] ?? [];
    if (!eventClass || !fields) continue;
    classes[eventClass] ??= {
      ...(classDocumentation[eventClass] ?? { display_name: eventClass, description: "" }),
      events: {},
    };
    classes[eventClass].events[type] = {
      display_name: displayName(type),
      description: eventDescriptions[type],
      default: (certificateEventTypes as readonly string[]).includes(type),
      event: Object.fromEntries(
        Object.entries(fields).map(([field, value]) => [
          field,
          { description: fieldDescriptions[field] ?? "", sampleValue: value },
        ]),
      ),
    };
  }
  return classes;
}
