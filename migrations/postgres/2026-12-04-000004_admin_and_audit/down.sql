DROP TABLE client_assertions;
DROP TABLE audit_events;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN token_endpoint_auth_method;
ALTER TABLE clients DROP COLUMN redirect_uris;
