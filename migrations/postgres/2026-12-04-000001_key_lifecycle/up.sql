-- Staged rotation: a pending key is published before it may sign, and
-- becomes active at promote_after. A revoked key leaves the JWKS at once.
ALTER TABLE signing_keys ADD COLUMN promote_after TIMESTAMP;
ALTER TABLE signing_keys ADD COLUMN revoked_at TIMESTAMP;

-- At most one staged key per algorithm, so instances that schedule a
-- rotation at the same moment cannot stage two.
CREATE UNIQUE INDEX signing_keys_one_pending_per_alg ON signing_keys (alg) WHERE state = 'pending';

-- Every state change of a key: when, from what, to what, and who made it
-- (a user id, "cli", "scheduler" or "startup").
CREATE TABLE key_events (
    id TEXT PRIMARY KEY NOT NULL,
    kid TEXT NOT NULL REFERENCES signing_keys (kid),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX key_events_by_kid ON key_events (kid, occurred_at);

-- Secrets the instances share, sealed under the master key like private
-- keys, so a master-key rotation re-seals them too.
CREATE TABLE sealed_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    sealed_value BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
