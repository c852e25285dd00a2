//! Queries on `audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::audit_events;

/// One audited action. `detail` is fixed text or ids, never a secret.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Inserts a batch in one transaction, so a batch costs one commit.
pub fn insert_batch(connection: &mut DbConnection, events: &[AuditEvent]) -> QueryResult<()> {
    connection.transaction(|connection| {
        for event in events {
            diesel::insert_into(audit_events::table).values(event).execute(connection)?;
        }
        Ok(())
    })
}

/// Returns the newest events first, at most `limit`.
pub fn recent(connection: &mut DbConnection, limit: i64) -> QueryResult<Vec<AuditEvent>> {
    audit_events::table
        .order((audit_events::occurred_at.desc(), audit_events::id))
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(connection)
}
