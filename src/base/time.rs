//! Time as an input: our own `Instant`, microseconds since an arbitrary epoch. Only the tokio
//! driver (`net`) reads the real clock; everything else is handed the time.

use std::time::Duration;

/// A point in time, in microseconds since the driver's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Instant(pub u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// No deadline.
    pub const NEVER: Instant = Instant(u64::MAX);
    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_micros().min(u64::MAX as u128) as u64))
    }
    /// Time from `earlier` to `self` (zero when `earlier` is later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0 / 1000
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.plus(d)
    }
}
