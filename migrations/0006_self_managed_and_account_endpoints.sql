-- Self-managed HTTPS: the last HTTPS probe of a domain (the customer's proxy, reached over HTTPS,
-- must answer with our edge's proof). And an account's own V2 endpoint, set by an operator
-- (scripts/account-endpoint.ts), never through the API: its domains are verified against it.
ALTER TABLE tracking_domains ADD COLUMN https_checked_at TEXT;
ALTER TABLE tracking_domains ADD COLUMN https_error_code TEXT;
ALTER TABLE tracking_domains ADD COLUMN https_detail TEXT;

ALTER TABLE accounts ADD COLUMN v2_endpoint TEXT;
