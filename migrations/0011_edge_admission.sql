-- Self-managed domains on a Cloudflare deploy mode: the customer's CNAME points at their own CDN,
-- so Cloudflare wants a TXT record (its pre-validation) before it routes the name to our Worker.
-- What Cloudflare last said of the name, and the record it asked for, to show to the customer.
ALTER TABLE tracking_domains ADD COLUMN edge_status TEXT;
-- Whether Cloudflare routes the name to us in that status (1) or not yet (0).
ALTER TABLE tracking_domains ADD COLUMN edge_active INTEGER CHECK (edge_active IN (0, 1));
ALTER TABLE tracking_domains ADD COLUMN edge_txt_name TEXT;
ALTER TABLE tracking_domains ADD COLUMN edge_txt_value TEXT;
ALTER TABLE tracking_domains ADD COLUMN edge_detail TEXT;
ALTER TABLE tracking_domains ADD COLUMN edge_checked_at TEXT;

-- The Cron watch follows the names Cloudflare is still validating, the longest unread first.
CREATE INDEX tracking_domains_edge_pending ON tracking_domains (edge_checked_at)
  WHERE https_mode = 'self_managed' AND edge_status = 'pending';
