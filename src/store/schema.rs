// Written by hand: the column types are limited to those that diesel's
// MultiConnection supports on both SQLite and PostgreSQL.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        secret_hash -> Nullable<Text>,
        grant_types -> Text,
        scopes -> Text,
        audience -> Nullable<Text>,
        access_token_lifetime -> Nullable<Integer>,
        disabled -> Bool,
        id_token_alg -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        redirect_uris -> Text,
        token_endpoint_auth_method -> Nullable<Text>,
        jwks -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor -> Text,
        action -> Text,
        client_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    client_assertions (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        state -> Text,
        sealed_private_key -> Binary,
        master_key_id -> Text,
        public_jwk -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        retire_after -> Nullable<Timestamp>,
        retired_at -> Nullable<Timestamp>,
        promote_after -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    key_events (id) {
        id -> Text,
        kid -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        actor -> Text,
        occurred_at -> Timestamp,
    }
}

diesel::table! {
    sealed_secrets (name) {
        name -> Text,
        sealed_value -> Binary,
        master_key_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        token_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        scope -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        family_expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
    }
}

diesel::joinable!(key_events -> signing_keys (kid));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    signing_keys,
    key_events,
    sealed_secrets,
    refresh_tokens,
    audit_events,
    client_assertions
);
