//! `/admin/users`: create, list, read, change and delete users.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin_json::{no_store, parse_json};
use super::auth::AdminPrincipal;
use super::error::ApiError;
use crate::oauth::{Password, User};
use crate::service::Issuer;

#[derive(Serialize)]
struct UserView {
    id: Uuid,
    username: String,
    admin: bool,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self { id: user.id, username: user.username, admin: user.is_admin, disabled: user.disabled, created_at: user.created_at.and_utc() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    password: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

/// Parses a user id from the path; anything but a UUID names no user.
fn user_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound("no user with this id".into()))
}

pub async fn create(admin: AdminPrincipal, request: HttpRequest, payload: web::Payload, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let body: NewUser = parse_json(&request, payload).await?;
    let password = Password::new_for_account(body.password).map_err(ApiError::InvalidRequest)?;

    let result = issuer.create_user(body.username, password, body.admin).await.map_err(ApiError::from);

    let user_id = result.as_ref().ok().map(|user| user.id.to_string());
    admin.audit(&issuer, "user.create", None, user_id.as_deref(), &result);
    Ok(no_store(StatusCode::CREATED, UserView::from(result?)))
}

pub async fn list(_admin: AdminPrincipal, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let users: Vec<UserView> = issuer.list_users().await?.into_iter().map(UserView::from).collect();
    Ok(no_store(StatusCode::OK, serde_json::json!({ "users": users })))
}

pub async fn read(_admin: AdminPrincipal, id: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let user = issuer.find_user(user_id(&id)?).await?;
    Ok(no_store(StatusCode::OK, UserView::from(user)))
}

pub async fn update(
    admin: AdminPrincipal,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    issuer: web::Data<Issuer>,
) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    let body: UserPatch = parse_json(&request, payload).await?;
    // Like deleting oneself, this could leave no administrator.
    if id == admin.user_id && (body.disabled == Some(true) || body.admin == Some(false)) {
        return Err(ApiError::Conflict("an administrator cannot disable or demote their own account".into()));
    }
    let password = body.password.map(Password::new_for_account).transpose().map_err(ApiError::InvalidRequest)?;

    let result = issuer.update_user(id, password, body.admin, body.disabled).await.map_err(ApiError::from);

    admin.audit(&issuer, "user.update", None, Some(&id.to_string()), &result);
    Ok(no_store(StatusCode::OK, UserView::from(result?)))
}

pub async fn delete(admin: AdminPrincipal, id: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let id = user_id(&id)?;
    if id == admin.user_id {
        return Err(ApiError::Conflict("an administrator cannot delete their own account".into()));
    }

    let result = issuer.delete_user(id).await.map_err(ApiError::from);

    admin.audit(&issuer, "user.delete", None, Some(&id.to_string()), &result);
    result?;
    Ok(HttpResponse::NoContent().finish())
}
