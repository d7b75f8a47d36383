-- Accounts, their subaccounts and API keys, and tracking domains with their public status.
-- Times are ISO 8601 UTC strings; booleans are 0/1.

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Subaccount ids count from 1 within each account; 0 stands for the primary account elsewhere.
CREATE TABLE subaccounts (
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  id INTEGER NOT NULL CHECK (id > 0),
  name TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (account_id, id)
);

-- Only a SHA-256 hash of each key is kept; the key itself is shown once, when it is made.
CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  -- NULL: a primary-account key, which may act for any subaccount with X-MSYS-SUBACCOUNT.
  subaccount_id INTEGER,
  label TEXT NOT NULL,
  -- The first characters of the key, so that people can tell their keys apart.
  short_key TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  revoked_at TEXT,
  FOREIGN KEY (account_id, subaccount_id) REFERENCES subaccounts (account_id, id)
);

CREATE TABLE tracking_domains (
  -- Lower-case A-label without a trailing dot. Unique across all accounts: a domain belongs to one.
  domain TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  subaccount_id INTEGER NOT NULL DEFAULT 0,
  region TEXT NOT NULL CHECK (region IN ('us', 'eu')),
  https_mode TEXT NOT NULL CHECK (https_mode IN ('managed', 'self_managed', 'none')),
  is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
  cname_status TEXT NOT NULL DEFAULT 'pending' CHECK (cname_status IN ('pending', 'valid', 'invalid')),
  compliance_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (compliance_status IN ('pending', 'valid', 'blocked')),
  -- The last DNS verification: when, the CNAME chain found (JSON array), and its verdict.
  dns_checked_at TEXT,
  dns_chain TEXT,
  dns_error_code TEXT,
  dns_detail TEXT,
  -- Public certificate status, written by the domain's certificate object after each step.
  tls_status TEXT NOT NULL DEFAULT 'unknown'
    CHECK (tls_status IN ('unknown', 'pending', 'valid', 'expired', 'failed', 'unavailable')),
  tls_issued_at TEXT,
  tls_expires_at TEXT,
  tls_renews_at TEXT,
  tls_error_code TEXT,
  tls_error_detail TEXT,
  tls_action_by TEXT CHECK (tls_action_by IN ('customer', 'provider')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX tracking_domains_by_owner ON tracking_domains (account_id, subaccount_id, domain);

-- At most one default tracking domain per account and subaccount.
CREATE UNIQUE INDEX tracking_domains_one_default
  ON tracking_domains (account_id, subaccount_id) WHERE is_default = 1;
