ALTER TABLE refresh_tokens DROP COLUMN auth_time;
ALTER TABLE clients DROP COLUMN id_token_alg;
