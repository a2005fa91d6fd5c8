//! The real clock, read here and nowhere else (docs/architecture.md): our [`Instant`] is the number
//! of microseconds since the driver bound its sockets. Built on `tokio::time::Instant`, so a
//! test runtime with paused time drives the node's timers too.

use crate::base::Instant;
use std::time::{Duration, SystemTime};

/// The driver's epoch, as a monotonic instant and as wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: tokio::time::Instant,
    wall: SystemTime,
}

impl Clock {
    /// Start counting now.
    pub fn start() -> Clock {
        Clock { epoch: tokio::time::Instant::now(), wall: SystemTime::now() }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.at(tokio::time::Instant::now())
    }

    /// A tokio instant as our `Instant` (instants before the epoch are `ZERO`).
    pub fn at(&self, t: tokio::time::Instant) -> Instant {
        let micros = t.saturating_duration_since(self.epoch).as_micros();
        Instant(u64::try_from(micros).unwrap_or(u64::MAX - 1))
    }

    /// Our `Instant` as a tokio instant to sleep until; `None` for [`Instant::NEVER`] (or a
    /// time too far away to represent).
    pub fn deadline(&self, t: Instant) -> Option<tokio::time::Instant> {
        if t == Instant::NEVER {
            return None;
        }
        self.epoch.checked_add(Duration::from_micros(t.0))
    }

    /// Wall-clock time of `Instant::ZERO` (for absolute timestamps, e.g. in pcapng).
    pub fn wall_epoch(&self) -> SystemTime {
        self.wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_never() {
        let c = Clock::start();
        assert_eq!(c.deadline(Instant::NEVER), None);
        let t = Instant(1_500_000);
        assert_eq!(c.at(c.deadline(t).unwrap()), t);
        assert!(c.now() < Instant(60_000_000));
    }
}
