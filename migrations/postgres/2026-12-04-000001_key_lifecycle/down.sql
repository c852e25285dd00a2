DROP TABLE sealed_secrets;
DROP TABLE key_events;
DROP INDEX signing_keys_one_pending_per_alg;
ALTER TABLE signing_keys DROP COLUMN revoked_at;
ALTER TABLE signing_keys DROP COLUMN promote_after;
