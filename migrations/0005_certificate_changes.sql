-- The edge-pull deployer's change feed: every certificate a domain starts serving, and every
-- domain taken off the edge, in order. TLS terminators poll it with the last id they saw and
-- refresh or drop what they cache. Old rows are pruned by the sweep; an edge whose cursor is
-- older than the oldest row is told to start over.
CREATE TABLE certificate_changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain TEXT NOT NULL,
  change TEXT NOT NULL CHECK (change IN ('deployed', 'removed')),
  -- The serial now served; null for a removal.
  serial TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX certificate_changes_by_age ON certificate_changes (created_at);
