-- A subaccount's status, as SparkPost's Subaccounts API has it (PUT /subaccounts/{id}):
-- suspended stops the API for the subaccount's own keys (the primary account's keys still act
-- for it, and its tracked links keep working: mail already sent must not break); terminated is
-- suspended for good.
ALTER TABLE subaccounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
  CHECK (status IN ('active', 'suspended', 'terminated'));
