//! A bounded pool for argon2 work.
//!
//! At most `workers` hashes run at once, on tokio's blocking threads, and at
//! most `queue` more wait for a worker. A request beyond that is turned away
//! at once with `Busy`, so a flood of logins costs the server a fixed amount
//! of CPU and memory and the caller can answer 503 with Retry-After.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Returned when every worker is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the password hashing pool is saturated")]
pub struct Busy;

#[derive(Clone)]
pub struct HashPool {
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
}

impl HashPool {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            admission: Arc::new(Semaphore::new(workers + queue)),
            workers: Arc::new(Semaphore::new(workers)),
        }
    }

    /// Runs `work` on a blocking thread once a worker is free, or returns
    /// `Busy` at once when the queue is full.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self.admission.clone().try_acquire_owned().map_err(|_| Busy)?;
        let worker = self.workers.clone().acquire_owned().await.map_err(|_| Busy)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let result = work();
            drop((worker, admitted));
            result
        })
        .await
        .map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn full_pool_rejects_at_once() {
        let pool = HashPool::new(1, 0);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocked = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || wait.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.run(|| ()).await, Err(Busy));
        release.send(()).unwrap();
        assert!(blocked.await.unwrap().is_ok());
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
