//! Log set-up: tracing to stderr, filtered by `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Does nothing if one is already set, so
/// tests may call it more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour codes only on a terminal, never in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Lets a repeated log line through at most once per `period_seconds`,
/// counting the repeats it held back, so a flood of identical failures
/// cannot flood the log.
pub struct LogThrottle {
    period_seconds: u64,
    last_logged: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl LogThrottle {
    pub const fn new(period_seconds: u64) -> Self {
        Self {
            period_seconds,
            last_logged: std::sync::atomic::AtomicU64::new(0),
            suppressed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Returns `Some(repeats held back since the last line)` when a line
    /// may be logged now, and `None` when it should be held back.
    pub fn permit(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let last = self.last_logged.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= self.period_seconds
            && self.last_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_counts_held_back_lines() {
        let throttle = LogThrottle::new(3600);
        assert_eq!(throttle.permit(), Some(0));
        assert_eq!(throttle.permit(), None);
        assert_eq!(throttle.permit(), None);
        throttle.last_logged.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(throttle.permit(), Some(2));
    }
}
