-- API keys that customers manage themselves (/api/v1/api-keys): each key has an opaque public
-- id, the grants it holds (a JSON array of names from src/accounts/grants.ts), the addresses it
-- may be used from (a JSON array of CIDR ranges; empty: anywhere) and when it was last used
-- (written at most once an hour per key, so that unused keys can be found and revoked).
ALTER TABLE api_keys ADD COLUMN public_id TEXT;
ALTER TABLE api_keys ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN valid_ips TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;

-- Keys made before grants existed could do everything: they keep every grant there is today.
-- Grants added later are never given to existing keys silently; a later migration names them.
UPDATE api_keys SET
  public_id = lower(hex(randomblob(12))),
  grants = '["account/view","api_keys/manage","tracking_domains/view","tracking_domains/manage","sending_domains/view","sending_domains/manage","subaccounts/view","subaccounts/manage","tracking_links/create","message_events/view","webhooks/view","webhooks/modify"]';

CREATE UNIQUE INDEX api_keys_public_id ON api_keys (public_id);

-- Revoked keys, for the Cron tick that deletes them after 90 days without reading every key.
CREATE INDEX api_keys_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;
