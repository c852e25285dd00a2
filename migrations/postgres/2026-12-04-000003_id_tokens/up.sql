-- The algorithm of a client's ID tokens (OpenID Connect
-- id_token_signed_response_alg); the issuer's signing_alg when NULL.
ALTER TABLE clients ADD COLUMN id_token_alg TEXT;

-- When the user authenticated with a password, carried into the ID tokens
-- issued on refresh (auth_time).
ALTER TABLE refresh_tokens ADD COLUMN auth_time TIMESTAMP;
