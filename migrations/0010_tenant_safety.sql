-- Tenant safety: proof of ownership for tracking-domain names, per-account budgets, bounded
-- engagement recording per client network, and the domain_claimed webhook event.

-- Who last verified each name, kept after the domain is deleted: a name another account verified
-- before needs the new holder's ownership TXT record (a dangling CNAME proves nothing).
CREATE TABLE domain_holders (
  domain TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL,
  verified_at TEXT NOT NULL
);

INSERT INTO domain_holders (domain, account_id, verified_at)
  SELECT domain, account_id, COALESCE(dns_checked_at, https_checked_at, updated_at)
  FROM tracking_domains WHERE verified = 1;

-- A domain's ownership proof: not_required (nobody else held the name), pending (required, not
-- found yet), valid (the account's TXT value was found), invalid (TXT records without it).
ALTER TABLE tracking_domains ADD COLUMN ownership_status TEXT NOT NULL DEFAULT 'not_required'
  CHECK (ownership_status IN ('not_required', 'pending', 'valid', 'invalid'));
ALTER TABLE tracking_domains ADD COLUMN ownership_checked_at TEXT;
-- The TXT values found at the last check (JSON array), to show next to the value expected.
ALTER TABLE tracking_domains ADD COLUMN ownership_found TEXT;

-- An operator's setting (npm run account:ownership): every new domain of the account needs the
-- ownership TXT record, whether or not someone held the name before.
ALTER TABLE accounts ADD COLUMN require_ownership_proof INTEGER NOT NULL DEFAULT 0
  CHECK (require_ownership_proof IN (0, 1));

-- The public id of the key made together with a subaccount (POST /subaccounts with
-- setup_api_key): the key's row finds its subaccount by it in the same transaction.
ALTER TABLE subaccounts ADD COLUMN created_with_key TEXT;

-- Budgets counted per account in fixed windows (new certificate orders an hour): the window
-- that is counting and how much of it is used.
CREATE TABLE account_budgets (
  account_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  window_start TEXT NOT NULL,
  used INTEGER NOT NULL,
  PRIMARY KEY (account_id, kind)
) WITHOUT ROWID;

-- Clicks and opens seen per tracking domain, client network and minute (pruned after minutes):
-- past ENGAGEMENT_EVENTS_PER_NETWORK_PER_MINUTE, events are counted in engagement_overflow
-- instead of stored one by one, so replaying one link cannot grow D1 without bound.
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

-- webhook_events again, without the CHECK on its type: the event types are the code's
-- (src/webhooks/events.ts), and a new one should not need the table rebuilt. The triggers that
-- write it are dropped first and made again unchanged (SQLite checks them on the rename).
DROP TRIGGER webhook_tls_status_change;
DROP TRIGGER webhook_tls_certificate_renewed;
DROP TRIGGER webhook_tls_error_change;
DROP TRIGGER webhook_https_check_change;
DROP TRIGGER webhook_engagement;

CREATE TABLE webhook_events_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  account_id INTEGER NOT NULL,
  subaccount_id INTEGER NOT NULL,
  domain TEXT NOT NULL,
  tls_status TEXT,
  previous_tls_status TEXT,
  error_code TEXT,
  error_detail TEXT,
  action_by TEXT,
  issued_at TEXT,
  expires_at TEXT,
  renews_at TEXT,
  https_checked_at TEXT,
  https_error_code TEXT,
  https_detail TEXT,
  previous_https_error_code TEXT,
  details TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO webhook_events_new SELECT * FROM webhook_events;
-- Ids must go on rising past every id a webhook has seen (their cursors), even when old events
-- were pruned: a row at the highest such id, deleted again, leaves AUTOINCREMENT past it.
INSERT OR IGNORE INTO webhook_events_new (id, type, account_id, subaccount_id, domain)
  SELECT MAX(seen), 'placeholder', 0, 0, '' FROM (
    SELECT MAX(id) AS seen FROM webhook_events
    UNION ALL SELECT MAX(cursor) FROM webhooks
    UNION ALL SELECT MAX(batch_last_event_id) FROM webhooks
  ) WHERE seen IS NOT NULL HAVING MAX(seen) IS NOT NULL;
DELETE FROM webhook_events_new WHERE type = 'placeholder';
DROP TABLE webhook_events;
ALTER TABLE webhook_events_new RENAME TO webhook_events;
CREATE INDEX webhook_events_by_account ON webhook_events (account_id, id);
CREATE INDEX webhook_events_by_age ON webhook_events (created_at);

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

-- Webhooks that hear of certificate changes hear of their domains being claimed too: losing a
-- domain to another account is the change a sender most needs to know of.
UPDATE webhooks SET events = json_insert(events, '$[#]', 'domain_claimed')
WHERE instr(events, '"tls_status_change"') > 0;
