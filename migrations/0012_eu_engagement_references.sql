-- EU domains' clicks and opens are stored only in DB_EU (migrations-eu/). For the account's
-- webhooks, the consumer writes here a reference to each: its type, account, domain and
-- {"event_id", "region": "eu"} in details, nothing personal; delivery reads the event from DB_EU.
-- One reference per event, however often its queue message comes.
CREATE UNIQUE INDEX webhook_events_eu_engagement ON webhook_events (json_extract(details, '$.event_id'))
  WHERE json_extract(details, '$.region') = 'eu';
