// /api/v1/events/engagement: clicks and opens recorded at the edge, newest first, filtered by
// tracking domain, message, type and time, one page at a time; always within the caller's scope.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  type EventCursor,
  engagementStores,
  listCountedEngagement,
  listEvents,
} from "../../tracking/events";
import { base64Url, fromBase64Url, fromUtf8 } from "../../util/encoding";
import type { AppEnv } from "../context";
import { ApiError, sparkPostCodes } from "../errors";
import { errorResponses, jsonContent, pageLimit } from "../schemas";
import { validationHook } from "../validation";

const EventSchema = z
  .object({
    id: z.string(),
    type: z.enum(["click", "open"]),
    occurred_at: z.string(),
    tracking_domain: z.string(),
    subaccount_id: z.number().int(),
    message_id: z.string().nullable(),
    recipient_id: z.string().nullable(),
    link_name: z.string().nullable(),
    target_url: z.string().nullable(),
    user_agent: z.string().nullable(),
    ip_prefix: z
      .string()
      .nullable()
      .openapi({ description: "The client's network (/24 or /48), never its address" }),
    secure: z.boolean().openapi({ description: "Whether the link was followed over https" }),
  })
  .openapi("EngagementEvent");

const Query = z.object({
  tracking_domain: z.string().max(253).optional(),
  message_id: z.string().max(256).optional(),
  type: z.enum(["click", "open"]).optional(),
  from: z.iso.datetime().optional().openapi({ description: "Events at or after this time" }),
  to: z.iso.datetime().optional().openapi({ description: "Events before this time" }),
  limit: pageLimit(1000),
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({ description: "From links.next of the previous page" }),
});

const route = createRoute({
  method: "get",
  path: "/engagement",
  summary: "List engagement events (clicks and opens)",
  request: { query: Query },
  responses: {
    200: jsonContent(
      z.object({ results: z.array(EventSchema), links: z.object({ next: z.string().nullable() }) }),
      "A page of events",
    ),
    ...errorResponses(400, 401, 403),
  },
});

const CountedSchema = z
  .object({
    day: z.string().openapi({ example: "2026-12-07" }),
    tracking_domain: z.string(),
    subaccount_id: z.number().int(),
    ip_prefix: z.string().openapi({ description: "The client network (empty: unknown)" }),
    type: z.enum(["click", "open"]),
    count: z.number().int(),
  })
  .openapi("CountedEngagement");

const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a day, such as 2026-12-07")
  .optional();

const counted = createRoute({
  method: "get",
  path: "/engagement/counted",
  summary: "Clicks and opens counted, not stored one by one",
  description:
    "Past ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE from one client network on one tracking domain in a minute (a link replayed by a bot, a scanner), clicks and opens still redirect and load, but are only counted here, per day, network and type.",
  request: {
    query: z.object({
      tracking_domain: z.string().max(253).optional(),
      from: day.openapi({ description: "From this day (UTC)" }),
      to: day.openapi({ description: "Through this day (UTC)" }),
      limit: pageLimit(1000),
    }),
  },
  responses: {
    200: jsonContent(z.object({ results: z.array(CountedSchema) }), "The counts"),
    ...errorResponses(400, 401, 403),
  },
});

const encodeCursor = (c: EventCursor) => base64Url(JSON.stringify([c.occurredAt, c.id]));

function decodeCursor(value: string): EventCursor {
  try {
    const [occurredAt, id] = JSON.parse(fromUtf8(fromBase64Url(value))) as unknown[];
    if (typeof occurredAt === "string" && typeof id === "string") return { occurredAt, id };
  } catch {
    // fall through
  }
  throw new ApiError(400, {
    message: "invalid cursor",
    code: sparkPostCodes.invalidParams,
    description: "cursor must be a value from links.next",
    param: "cursor",
    value,
  });
}

export function eventRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.openapi(route, async (c) => {
    const query = c.req.valid("query");
    const limit = query.limit ?? 100;
    const events = await listEvents(
      engagementStores(c.env),
      c.get("auth"),
      {
        ...(query.tracking_domain ? { trackingDomain: query.tracking_domain.toLowerCase() } : {}),
        ...(query.message_id ? { messageId: query.message_id } : {}),
        ...(query.type ? { type: query.type } : {}),
        ...(query.from ? { from: new Date(query.from).toISOString() } : {}),
        ...(query.to ? { to: new Date(query.to).toISOString() } : {}),
      },
      query.cursor ? decodeCursor(query.cursor) : null,
      limit,
    );
    const last = events[events.length - 1];
    let next: string | null = null;
    if (events.length === limit && last) {
      const url = new URL(c.req.url);
      url.searchParams.set("cursor", encodeCursor(last));
      next = `${url.pathname}${url.search}`;
    }
    return c.json(
      {
        results: events.map((e) => ({
          id: e.id,
          type: e.type,
          occurred_at: e.occurredAt,
          tracking_domain: e.trackingDomain,
          subaccount_id: e.subaccountId,
          message_id: e.messageId,
          recipient_id: e.recipientId,
          link_name: e.linkName,
          target_url: e.targetUrl,
          user_agent: e.userAgent,
          ip_prefix: e.ipPrefix,
          secure: e.secure,
        })),
        links: { next },
      },
      200,
    );
  });
  app.openapi(counted, async (c) => {
    const query = c.req.valid("query");
    const rows = await listCountedEngagement(
      engagementStores(c.env),
      c.get("auth"),
      {
        ...(query.tracking_domain ? { trackingDomain: query.tracking_domain.toLowerCase() } : {}),
        ...(query.from ? { fromDay: query.from } : {}),
        ...(query.to ? { toDay: query.to } : {}),
      },
      query.limit ?? 100,
    );
    return c.json(
      {
        results: rows.map((r) => ({
          day: r.day,
          tracking_domain: r.trackingDomain,
          subaccount_id: r.subaccountId,
          ip_prefix: r.ipPrefix,
          type: r.type,
          count: r.count,
        })),
      },
      200,
    );
  });
  return app;
}
