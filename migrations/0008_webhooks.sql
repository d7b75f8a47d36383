-- Webhooks: an account's endpoints that are told when a tracking domain's certificate changes
-- (tls_status, a renewal, a new or cleared error) or, for a self-managed domain, when the check
-- through the customer's own CDN or proxy starts or stops failing; and, for webhooks that ask
-- for them, every click and open. Events are written by triggers in the same
-- statement that changes the domain's row, whoever changes it (the domain's certificate object,
-- the sweep marking a certificate expired), so none is lost between the change and its event.
-- Each webhook delivers the events after its cursor, in order, in batches (src/webhooks).

CREATE TABLE webhooks (
  -- Random and public (the API's id).
  id TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  -- NULL: every domain of the account; a number: only that subaccount's (0: the primary's own).
  subaccount_id INTEGER,
  name TEXT NOT NULL,
  target TEXT NOT NULL,
  -- JSON array of the event types it wants.
  events TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  auth_type TEXT NOT NULL CHECK (auth_type IN ('none', 'basic')),
  -- Whether an auth_token is among the secrets (so reading a webhook needs no decryption).
  auth_token_set INTEGER NOT NULL DEFAULT 0,
  -- The signing secret and any credentials, sealed (AES-256-GCM under KEY_ENCRYPTION_KEYS).
  secrets TEXT NOT NULL,
  -- The last webhook_events.id delivered (or not wanted) by this webhook.
  cursor INTEGER NOT NULL DEFAULT 0,
  -- The batch being delivered: its id stays the same across retries, as do its events.
  batch_id TEXT,
  batch_last_event_id INTEGER,
  batch_attempts INTEGER NOT NULL DEFAULT 0,
  batch_first_attempt_at TEXT,
  next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  -- Whoever delivers holds the webhook until then, so that two deliverers never send one batch.
  lease_until TEXT,
  last_success_at TEXT,
  last_failure_at TEXT,
  last_failure TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX webhooks_by_account ON webhooks (account_id);

CREATE TABLE webhook_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL
    CHECK (type IN ('tls_status_change', 'tls_certificate_renewed', 'tls_error_change',
      'https_check_change', 'click', 'open')),
  account_id INTEGER NOT NULL,
  subaccount_id INTEGER NOT NULL,
  domain TEXT NOT NULL,
  -- Certificate events: the domain's status after and before.
  tls_status TEXT,
  previous_tls_status TEXT,
  error_code TEXT,
  error_detail TEXT,
  action_by TEXT,
  issued_at TEXT,
  expires_at TEXT,
  renews_at TEXT,
  -- Self-managed domains: the last check through the customer's proxy (null error: it passed).
  https_checked_at TEXT,
  https_error_code TEXT,
  https_detail TEXT,
  previous_https_error_code TEXT,
  -- Clicks and opens: the engagement event's fields, as JSON.
  details TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX webhook_events_by_account ON webhook_events (account_id, id);
CREATE INDEX webhook_events_by_age ON webhook_events (created_at);

-- Each attempt to deliver a batch, for GET /webhooks/{id}/batch-status (pruned after 7 days).
CREATE TABLE webhook_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  events INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dropped')),
  response_code INTEGER,
  failure TEXT,
  attempted_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX webhook_attempts_by_age ON webhook_attempts (attempted_at);

-- The triggers: one per event type, each a single INSERT with its condition in WHEN (no CASE
-- expression in a body: wrangler's statement splitter would close the trigger there). Nothing is
-- written for accounts without a webhook.
CREATE TRIGGER webhook_tls_status_change AFTER UPDATE OF tls_status ON tracking_domains
WHEN OLD.tls_status IS NOT NEW.tls_status
  AND EXISTS (SELECT 1 FROM webhooks WHERE account_id = NEW.account_id)
BEGIN
  INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status,
    previous_tls_status, error_code, error_detail, action_by, issued_at, expires_at, renews_at,
    https_checked_at, https_error_code, https_detail, previous_https_error_code)
  VALUES ('tls_status_change', NEW.account_id, NEW.subaccount_id, NEW.domain, NEW.tls_status,
    OLD.tls_status, NEW.tls_error_code, NEW.tls_error_detail, NEW.tls_action_by,
    NEW.tls_issued_at, NEW.tls_expires_at, NEW.tls_renews_at,
    NEW.https_checked_at, NEW.https_error_code, NEW.https_detail, OLD.https_error_code);
END;

CREATE TRIGGER webhook_tls_certificate_renewed AFTER UPDATE OF tls_expires_at ON tracking_domains
WHEN OLD.tls_status IS NEW.tls_status AND NEW.tls_status = 'valid'
  AND OLD.tls_expires_at IS NOT NULL AND NEW.tls_expires_at IS NOT NULL
  AND OLD.tls_expires_at IS NOT NEW.tls_expires_at
  AND EXISTS (SELECT 1 FROM webhooks WHERE account_id = NEW.account_id)
BEGIN
  INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status,
    previous_tls_status, error_code, error_detail, action_by, issued_at, expires_at, renews_at,
    https_checked_at, https_error_code, https_detail, previous_https_error_code)
  VALUES ('tls_certificate_renewed', NEW.account_id, NEW.subaccount_id, NEW.domain,
    NEW.tls_status, OLD.tls_status, NEW.tls_error_code, NEW.tls_error_detail, NEW.tls_action_by,
    NEW.tls_issued_at, NEW.tls_expires_at, NEW.tls_renews_at,
    NEW.https_checked_at, NEW.https_error_code, NEW.https_detail, OLD.https_error_code);
END;

CREATE TRIGGER webhook_tls_error_change AFTER UPDATE OF tls_error_code ON tracking_domains
WHEN OLD.tls_status IS NEW.tls_status
  AND OLD.tls_expires_at IS NEW.tls_expires_at
  AND OLD.tls_error_code IS NOT NEW.tls_error_code
  AND EXISTS (SELECT 1 FROM webhooks WHERE account_id = NEW.account_id)
BEGIN
  INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status,
    previous_tls_status, error_code, error_detail, action_by, issued_at, expires_at, renews_at,
    https_checked_at, https_error_code, https_detail, previous_https_error_code)
  VALUES ('tls_error_change', NEW.account_id, NEW.subaccount_id, NEW.domain, NEW.tls_status,
    OLD.tls_status, NEW.tls_error_code, NEW.tls_error_detail, NEW.tls_action_by,
    NEW.tls_issued_at, NEW.tls_expires_at, NEW.tls_renews_at,
    NEW.https_checked_at, NEW.https_error_code, NEW.https_detail, OLD.https_error_code);
END;

-- A self-managed domain's first check through the customer's proxy, and every later one whose
-- result differs from the one before (passing to failing, failing for another reason, fixed).
CREATE TRIGGER webhook_https_check_change AFTER UPDATE OF https_error_code ON tracking_domains
WHEN NEW.https_mode = 'self_managed' AND NEW.https_checked_at IS NOT NULL
  AND (OLD.https_checked_at IS NULL OR OLD.https_error_code IS NOT NEW.https_error_code)
  AND EXISTS (SELECT 1 FROM webhooks WHERE account_id = NEW.account_id)
BEGIN
  INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status,
    previous_tls_status, error_code, error_detail, action_by, issued_at, expires_at, renews_at,
    https_checked_at, https_error_code, https_detail, previous_https_error_code)
  VALUES ('https_check_change', NEW.account_id, NEW.subaccount_id, NEW.domain, NEW.tls_status,
    OLD.tls_status, NEW.tls_error_code, NEW.tls_error_detail, NEW.tls_action_by,
    NEW.tls_issued_at, NEW.tls_expires_at, NEW.tls_renews_at,
    NEW.https_checked_at, NEW.https_error_code, NEW.https_detail, OLD.https_error_code);
END;

-- A click or an open, for the account's active webhooks that ask for that type. A queue message
-- delivered twice inserts nothing the second time (ON CONFLICT DO NOTHING), so no event twice.
CREATE TRIGGER webhook_engagement AFTER INSERT ON engagement_events
WHEN EXISTS (SELECT 1 FROM webhooks WHERE account_id = NEW.account_id AND active = 1
  AND instr(events, '"' || NEW.type || '"') > 0)
BEGIN
  INSERT INTO webhook_events (type, account_id, subaccount_id, domain, details)
  VALUES (NEW.type, NEW.account_id, NEW.subaccount_id, NEW.tracking_domain,
    json_object('event_id', NEW.id, 'occurred_at', NEW.occurred_at,
      'message_id', NEW.message_id, 'recipient_id', NEW.recipient_id,
      'link_name', NEW.link_name, 'target_url', NEW.target_url,
      'user_agent', NEW.user_agent, 'ip_prefix', NEW.ip_prefix, 'secure', NEW.secure));
END;
