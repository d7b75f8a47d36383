-- The EU engagement database (binding DB_EU, created with --jurisdiction eu): the clicks and opens
-- of EU tracking domains, stored only here. The same tables as the global database's (see
-- migrations/0004_engagement.sql and 0010_tenant_safety.sql), written by the consumer of the EU
-- queue; no webhook trigger: the consumer writes a reference (the event's id, nothing personal)
-- into the global webhook_events, and delivery reads the event itself from here.

CREATE TABLE engagement_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL CHECK (type IN ('click', 'open')),
  occurred_at TEXT NOT NULL,
  tracking_domain TEXT NOT NULL,
  account_id INTEGER NOT NULL,
  subaccount_id INTEGER NOT NULL DEFAULT 0,
  message_id TEXT,
  recipient_id TEXT,
  link_name TEXT,
  target_url TEXT,
  user_agent TEXT,
  ip_prefix TEXT,
  secure INTEGER NOT NULL CHECK (secure IN (0, 1))
);

CREATE INDEX engagement_events_by_time ON engagement_events (account_id, occurred_at, id);
CREATE INDEX engagement_events_by_message ON engagement_events (account_id, message_id, occurred_at, id);
CREATE INDEX engagement_events_by_domain ON engagement_events (account_id, tracking_domain, occurred_at, id);

CREATE TABLE engagement_rates (
  minute TEXT NOT NULL,
  tracking_domain TEXT NOT NULL,
  ip_prefix TEXT NOT NULL,
  seen INTEGER NOT NULL,
  PRIMARY KEY (minute, tracking_domain, ip_prefix)
) WITHOUT ROWID;

CREATE TABLE engagement_overflow (
  account_id INTEGER NOT NULL,
  tracking_domain TEXT NOT NULL,
  day TEXT NOT NULL,
  ip_prefix TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('click', 'open')),
  subaccount_id INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (account_id, tracking_domain, day, ip_prefix, type)
) WITHOUT ROWID;

CREATE INDEX engagement_overflow_by_day ON engagement_overflow (day);
