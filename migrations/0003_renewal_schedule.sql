-- When each domain's certificate object must next act (its alarm: a step, a renewal, a look at
-- the CA's renewal window, or the moment its certificate expires), mirrored from the object.
-- The Cron sweep reads the overdue ones from this index in pages, so its cost follows the
-- number of due domains, not the number of domains.
ALTER TABLE tracking_domains ADD COLUMN tls_next_run_at TEXT;
CREATE INDEX tracking_domains_next_run ON tracking_domains (tls_next_run_at, domain)
  WHERE tls_next_run_at IS NOT NULL;

-- Serving certificates by expiry, for the sweep's backstop that marks expired ones.
CREATE INDEX tracking_domains_expiring ON tracking_domains (tls_expires_at) WHERE tls_status = 'valid';

-- Where the sweep stopped, when a tick had more overdue domains than its page.
CREATE TABLE sweep_cursor (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  next_run_at TEXT NOT NULL,
  domain TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
