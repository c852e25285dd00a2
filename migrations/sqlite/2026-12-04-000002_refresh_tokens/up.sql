-- Opaque refresh tokens, stored only as a keyed hash. Each use rotates the
-- token: the used one gets used_at and a successor in the same family. A
-- second use of a used token revokes the whole family.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients (client_id),
    user_id TEXT NOT NULL REFERENCES users (id),
    scope TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    family_expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
