//! `/admin/clients`: register, list, read, change, delete clients and
//! rotate their secrets. A generated secret is in the response once and
//! never again.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::admin_json::{double_option, no_store, parse_json};
use super::auth::AdminPrincipal;
use super::error::ApiError;
use crate::keys::Algorithm;
use crate::oauth::{AuthMethod, Client, ClientKind, GrantType, Scope};
use crate::service::Issuer;
use crate::service::clients::{ClientChanges, ClientSpec};

#[derive(Serialize)]
struct ClientView {
    client_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    grant_types: Vec<&'static str>,
    scope: String,
    audiences: Vec<String>,
    access_token_lifetime: Option<u32>,
    id_token_alg: Option<Algorithm>,
    token_endpoint_auth_method: Option<&'static str>,
    redirect_uris: Vec<String>,
    /// The public keys of a private_key_jwt client.
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<Value>,
    disabled: bool,
    created_at: DateTime<Utc>,
    /// A generated secret, in the response that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl ClientView {
    fn new(client: Client, client_secret: Option<String>) -> Self {
        let jwks = match &client.kind {
            ClientKind::PrivateKeyJwt { jwks } => serde_json::from_str(jwks).ok(),
            _ => None,
        };
        Self {
            kind: client.kind.as_str(),
            grant_types: client.grant_types.iter().map(|grant| grant.as_str()).collect(),
            scope: client.scopes.to_string(),
            audiences: client.audience.as_deref().unwrap_or_default().split(' ').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
            access_token_lifetime: client.access_token_lifetime,
            id_token_alg: client.id_token_alg,
            token_endpoint_auth_method: client.auth_method.map(AuthMethod::as_str),
            redirect_uris: client.redirect_uris,
            jwks,
            disabled: client.disabled,
            created_at: client.created_at.and_utc(),
            client_id: client.client_id,
            client_secret,
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum KindName {
    Confidential,
    Public,
    PrivateKeyJwt,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    client_id: String,
    #[serde(rename = "type", default = "confidential")]
    kind: KindName,
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    scope: String,
    audiences: Option<Vec<String>>,
    access_token_lifetime: Option<u32>,
    id_token_alg: Option<String>,
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    jwks: Option<Value>,
    /// A secret of the operator's choosing; one is generated otherwise.
    client_secret: Option<String>,
}

fn confidential() -> KindName {
    KindName::Confidential
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPatch {
    grant_types: Option<Vec<String>>,
    scope: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    audiences: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    access_token_lifetime: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    id_token_alg: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    token_endpoint_auth_method: Option<Option<String>>,
    redirect_uris: Option<Vec<String>>,
    jwks: Option<Value>,
    disabled: Option<bool>,
}

/// A client_id from the path; a value no client_id can have names no
/// client, and is not sent to the database.
fn client_id(path: web::Path<String>) -> Result<String, ApiError> {
    let id = path.into_inner();
    crate::oauth::validate_client_id(&id).map_err(|_| ApiError::NotFound("no client with this client_id".into()))?;
    Ok(id)
}

fn grants(names: Vec<String>) -> Result<Vec<GrantType>, ApiError> {
    names
        .iter()
        .map(|name| name.parse::<GrantType>().map_err(|accepted| ApiError::InvalidRequest(format!("invalid grant_types: {accepted}"))))
        .collect()
}

fn scope(text: &str) -> Result<Scope, ApiError> {
    Scope::parse(text).map_err(|reason| ApiError::InvalidRequest(format!("invalid scope: {reason}")))
}

fn algorithm(name: &str) -> Result<Algorithm, ApiError> {
    name.parse().map_err(|accepted| ApiError::InvalidRequest(format!("invalid id_token_alg: {accepted}")))
}

fn auth_method(name: &str) -> Result<AuthMethod, ApiError> {
    name.parse().map_err(|accepted| ApiError::InvalidRequest(format!("invalid token_endpoint_auth_method: {accepted}")))
}

fn audiences(list: Vec<String>) -> Result<String, ApiError> {
    if list.iter().any(|audience| audience.is_empty() || audience.contains(char::is_whitespace)) {
        return Err(ApiError::InvalidRequest("invalid audiences: each must be non-empty and without spaces".into()));
    }
    Ok(list.join(" "))
}

pub async fn create(admin: AdminPrincipal, request: HttpRequest, payload: web::Payload, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let body: NewClient = parse_json(&request, payload).await?;
    if body.kind != KindName::PrivateKeyJwt && body.jwks.is_some() {
        return Err(ApiError::InvalidRequest("jwks is only for type private_key_jwt".into()));
    }
    if body.kind == KindName::PrivateKeyJwt && body.jwks.is_none() {
        return Err(ApiError::InvalidRequest("a private_key_jwt client needs jwks".into()));
    }
    let spec = ClientSpec {
        client_id: body.client_id.clone(),
        public: body.kind == KindName::Public,
        grant_types: grants(body.grant_types.unwrap_or_else(|| vec!["password".into()]))?,
        scopes: scope(&body.scope)?,
        audience: body.audiences.map(audiences).transpose()?,
        access_token_lifetime: body.access_token_lifetime,
        chosen_secret: body.client_secret,
        id_token_alg: body.id_token_alg.as_deref().map(algorithm).transpose()?,
        jwks: body.jwks.map(|jwks| jwks.to_string()),
        auth_method: body.token_endpoint_auth_method.as_deref().map(auth_method).transpose()?,
        redirect_uris: body.redirect_uris,
    };

    let result = issuer.create_client(spec).await.map_err(ApiError::from);

    admin.audit(&issuer, "client.create", Some(&body.client_id), None, &result);
    let created = result?;
    Ok(no_store(StatusCode::CREATED, ClientView::new(created.client, created.generated_secret)))
}

pub async fn list(_admin: AdminPrincipal, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let clients: Vec<ClientView> = issuer.list_clients().await?.into_iter().map(|client| ClientView::new(client, None)).collect();
    Ok(no_store(StatusCode::OK, serde_json::json!({ "clients": clients })))
}

pub async fn read(_admin: AdminPrincipal, id: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let client = issuer.find_client(client_id(id)?).await?;
    Ok(no_store(StatusCode::OK, ClientView::new(client, None)))
}

pub async fn update(
    admin: AdminPrincipal,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    issuer: web::Data<Issuer>,
) -> Result<HttpResponse, ApiError> {
    let client_id = client_id(id)?;
    let body: ClientPatch = parse_json(&request, payload).await?;
    let changes = ClientChanges {
        grant_types: body.grant_types.map(grants).transpose()?,
        scopes: body.scope.as_deref().map(scope).transpose()?,
        audience: body.audiences.map(|list| list.map(audiences).transpose()).transpose()?,
        access_token_lifetime: body.access_token_lifetime,
        id_token_alg: body.id_token_alg.map(|name| name.as_deref().map(algorithm).transpose()).transpose()?,
        auth_method: body.token_endpoint_auth_method.map(|name| name.as_deref().map(auth_method).transpose()).transpose()?,
        redirect_uris: body.redirect_uris,
        jwks: body.jwks.map(|jwks| jwks.to_string()),
        disabled: body.disabled,
    };

    let result = issuer.update_client(client_id.clone(), changes).await.map_err(ApiError::from);

    admin.audit(&issuer, "client.update", Some(&client_id), None, &result);
    Ok(no_store(StatusCode::OK, ClientView::new(result?, None)))
}

pub async fn rotate_secret(admin: AdminPrincipal, id: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let client_id = client_id(id)?;

    let result = issuer.rotate_client_secret(client_id.clone()).await.map_err(ApiError::from);

    admin.audit(&issuer, "client.rotate_secret", Some(&client_id), None, &result);
    Ok(no_store(StatusCode::OK, serde_json::json!({ "client_id": client_id, "client_secret": result? })))
}

pub async fn delete(admin: AdminPrincipal, id: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let client_id = client_id(id)?;

    let result = issuer.delete_client(client_id.clone()).await.map_err(ApiError::from);

    admin.audit(&issuer, "client.delete", Some(&client_id), None, &result);
    result?;
    Ok(HttpResponse::NoContent().finish())
}
