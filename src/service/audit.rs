//! The audit trail: every admin action and every grant, success or
//! failure, with time, actor, client, user and outcome, never a secret.
//!
//! Requests hand events to a bounded channel and move on; one background
//! task writes them in batches, one transaction each. So no token response
//! waits for an audit write. If the database falls behind until the
//! channel is full, further events are dropped and counted in a throttled
//! warning rather than slowing the token endpoint.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::store::audit::{self, AuditEvent};
use crate::store::{self, Db};
use crate::telemetry::LogThrottle;

/// Events that may wait for the writer.
const CHANNEL_CAPACITY: usize = 10_000;
/// Most events written in one transaction.
const MAX_BATCH: usize = 256;
/// How long the writer gathers more events before it writes a batch.
const GATHER_WINDOW: Duration = Duration::from_millis(100);

static DROPPED_LOG: LogThrottle = LogThrottle::new(60);
static WRITE_FAILED_LOG: LogThrottle = LogThrottle::new(60);

enum Message {
    Event(AuditEvent),
    /// Write everything queued so far, then reply.
    Flush(oneshot::Sender<()>),
}

/// A handle for recording audit events. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<Message>,
}

/// An event to record, for `AuditLog::record`.
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub client_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    /// `success`, or the error code.
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
}

impl AuditLog {
    /// Starts the background writer on the current tokio runtime.
    pub fn start(db: Db) -> Self {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(write_batches(db, receiver));
        Self { sender }
    }

    /// Queues an event without waiting: a full queue drops it with a warning.
    pub fn record(&self, entry: Entry<'_>) {
        let event = AuditEvent {
            id: Uuid::new_v4().to_string(),
            occurred_at: store::now(),
            actor: clean(entry.actor),
            action: clean(entry.action),
            client_id: entry.client_id.map(clean),
            user_id: entry.user_id.map(clean),
            outcome: clean(entry.outcome),
            detail: entry.detail.map(clean),
        };
        if self.sender.try_send(Message::Event(event)).is_err()
            && let Some(held_back) = DROPPED_LOG.permit()
        {
            tracing::warn!(repeats = held_back, "dropped an audit event: the audit writer is behind or stopped");
        }
    }

    /// Waits until every event queued before this call is written; the CLI
    /// calls it before it exits.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// Maximum length of the text kept in one audit field.
const MAX_FIELD_LEN: usize = 256;

/// Keeps client-supplied text (a claimed client_id) storable on every
/// backend: control characters, which PostgreSQL rejects (NUL), become
/// `?`, and the length is capped.
fn clean(text: &str) -> String {
    text.chars().take(MAX_FIELD_LEN).map(|c| if c.is_control() { '?' } else { c }).collect()
}

async fn write_batches(db: Db, mut receiver: mpsc::Receiver<Message>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut pending = Some(first);
        let deadline = tokio::time::Instant::now() + GATHER_WINDOW;
        loop {
            match pending.take() {
                Some(Message::Event(event)) => batch.push(event),
                Some(Message::Flush(done)) => {
                    flushes.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(message)) => pending = Some(message),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            // If the batch fails, each event is tried alone, so one bad
            // event cannot cost the others.
            let lost = db
                .run(move |conn| {
                    if audit::insert_batch(conn, &batch).is_ok() {
                        return Ok(0);
                    }
                    let mut lost = 0;
                    for event in &batch {
                        lost += usize::from(audit::insert_batch(conn, std::slice::from_ref(event)).is_err());
                    }
                    Ok(lost)
                })
                .await;
            let lost = lost.unwrap_or(usize::MAX);
            if lost > 0
                && let Some(held_back) = WRITE_FAILED_LOG.permit()
            {
                tracing::warn!(events = lost, repeats = held_back, "writing audit events failed; they are lost");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
