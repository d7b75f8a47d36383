-- Sending domains (the minimum the link minting needs: which tracking domain a sending domain
-- uses) and the engagement events that clicks and opens record.

CREATE TABLE sending_domains (
  domain TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  subaccount_id INTEGER NOT NULL DEFAULT 0,
  -- Same account and subaccount (checked by the API); unset when that tracking domain is deleted.
  tracking_domain TEXT REFERENCES tracking_domains (domain) ON DELETE SET NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX sending_domains_by_owner ON sending_domains (account_id, subaccount_id, domain);

-- One row per click or open. The id comes from the edge, so a redelivered queue message is
-- written once. No raw IP address: only its network prefix.
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
