//! What the host platform must supply, in one place: read this file to know what a new
//! platform (Android, iOS, desktop, a test) must provide. Implementations live in the shells
//! or, for desktop and tests, next to each trait.

/// The current time. A trait so tests can move time (stale responses, expiring quotes) and
/// hosts can supply a trusted clock.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}
