-- The Cron watch over self-managed domains: each tick probes, through the customer's proxy, the
-- verified self-managed domains whose last probe is oldest (a day after a pass, an hour after a
-- failure). Only self-managed rows are in the index, in the order the watch reads them.
CREATE INDEX tracking_domains_self_managed_probe
  ON tracking_domains (https_checked_at)
  WHERE https_mode = 'self_managed' AND verified = 1;
