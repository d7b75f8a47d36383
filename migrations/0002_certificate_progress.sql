-- The certificate lifecycle's current step and when it last moved, mirrored from the domain's
-- Durable Object, so the API can say which step a pending certificate is on and whether it is
-- stuck without asking the object.
ALTER TABLE tracking_domains ADD COLUMN tls_step TEXT;
ALTER TABLE tracking_domains ADD COLUMN tls_progress_at TEXT;
