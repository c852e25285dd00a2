-- Client settings managed through the admin API. redirect_uris is kept for
-- clients that move to an authorization endpoint later; it is not used
-- yet. token_endpoint_auth_method, when set, is the only method the client
-- may use; jwks holds the public keys of a private_key_jwt client.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT;
ALTER TABLE clients ADD COLUMN jwks TEXT;

-- Every admin action and every grant, success or failure. Never a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    client_id TEXT,
    user_id TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);

-- jti values of accepted private_key_jwt assertions, kept until the
-- assertion expires, so none is accepted twice.
CREATE TABLE client_assertions (
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (client_id, jti)
);
