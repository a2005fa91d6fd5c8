//! The RFC 3261 timer table (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2 and the summary in
//! Appendix A), plus RFC 6026 timers L and M: one [`Timer`] enum, the values in one
//! [`TimerConfig`], and the per-transaction deadlines in a small fixed array (quinn's
//! `connection/timer.rs` pattern).

use std::time::Duration;

use crate::base::Instant;
use crate::base::Transport;

/// The smallest retransmission interval: guards against a zero T1 making a timer fire at the
/// same instant forever.
const MIN_INTERVAL: Duration = Duration::from_micros(1);

/// A transaction timer (RFC 3261 Appendix A; L and M from RFC 6026 §8.4 and §8.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission (UDP only), T1 doubling.
    A = 0,
    /// INVITE client: transaction timeout in Calling, 64·T1.
    B = 1,
    /// INVITE client: wait for response retransmissions in Completed (32 s UDP, 0 TCP).
    D = 2,
    /// Non-INVITE client: request retransmission (UDP only), T1 doubling to T2; T2 in
    /// Proceeding.
    E = 3,
    /// Non-INVITE client: transaction timeout, 64·T1.
    F = 4,
    /// INVITE server: final response retransmission (UDP only), T1 doubling to T2.
    G = 5,
    /// INVITE server: wait for the ACK in Completed, 64·T1.
    H = 6,
    /// INVITE server: absorb ACK retransmissions in Confirmed (T4 UDP, 0 TCP).
    I = 7,
    /// Non-INVITE server: absorb request retransmissions in Completed (64·T1 UDP, 0 TCP).
    J = 8,
    /// Non-INVITE client: absorb response retransmissions in Completed (T4 UDP, 0 TCP).
    K = 9,
    /// INVITE server (RFC 6026): absorb INVITE retransmissions in Accepted, 64·T1.
    L = 10,
    /// INVITE client (RFC 6026): pass 2xx retransmissions up in Accepted, 64·T1.
    M = 11,
}

impl Timer {
    /// Every timer, in declaration order.
    pub const ALL: [Timer; 12] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
    ];

    /// The timer's letter.
    pub fn as_str(self) -> &'static str {
        match self {
            Timer::A => "A",
            Timer::B => "B",
            Timer::D => "D",
            Timer::E => "E",
            Timer::F => "F",
            Timer::G => "G",
            Timer::H => "H",
            Timer::I => "I",
            Timer::J => "J",
            Timer::K => "K",
            Timer::L => "L",
            Timer::M => "M",
        }
    }
}

impl std::fmt::Display for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Timer {}", self.as_str())
    }
}

/// Timer values. [`TimerConfig::RFC3261`] (the default) holds the RFC values; tests and
/// simulations may shrink them with [`TimerConfig::scaled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the RTT estimate (500 ms).
    pub t1: Duration,
    /// T2, the longest retransmission interval for non-INVITE requests and INVITE responses
    /// (4 s).
    pub t2: Duration,
    /// T4, how long the network may hold a message (5 s): timers I and K over UDP.
    pub t4: Duration,
    /// Timer D over UDP. RFC 3261 says "at least 32 s", a fixed value rather than 64·T1.
    pub timer_d: Duration,
    /// Upper bound of the Timer A interval. RFC 3261 §17.1.1.2 leaves A uncapped (only
    /// Timer B ends it), so the default is `None`; some stacks (siphon-rs) cap it at T2.
    pub timer_a_cap: Option<Duration>,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig::RFC3261
    }
}

impl TimerConfig {
    /// The RFC 3261 values: T1 500 ms, T2 4 s, T4 5 s, Timer D 32 s, Timer A uncapped.
    pub const RFC3261: TimerConfig = TimerConfig {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
        timer_d: Duration::from_secs(32),
        timer_a_cap: None,
    };

    /// The RFC ratios around another T1: T2 = 8·T1, T4 = 10·T1, Timer D = 64·T1.
    pub fn scaled(t1: Duration) -> TimerConfig {
        TimerConfig {
            t1,
            t2: t1.saturating_mul(8),
            t4: t1.saturating_mul(10),
            timer_d: t1.saturating_mul(64),
            timer_a_cap: None,
        }
    }

    /// 64·T1: timers B, F, H, J (UDP), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The value a timer starts with over `transport` (Appendix A). Retransmission timers
    /// (A, E, G) are never zero; the "0 for reliable transports" timers (D, I, J, K) are zero
    /// over TCP. A, E and G are only started over UDP; their value here is the UDP one.
    pub fn initial(&self, timer: Timer, transport: Transport) -> Duration {
        let reliable = transport.is_reliable();
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1.max(MIN_INTERVAL),
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => self.t1x64(),
            Timer::D if reliable => Duration::ZERO,
            Timer::D => self.timer_d,
            Timer::I | Timer::J | Timer::K if reliable => Duration::ZERO,
            Timer::I | Timer::K => self.t4,
            Timer::J => self.t1x64(),
        }
    }

    /// The interval after a retransmission timer fired with interval `current`: A doubles
    /// (up to [`TimerConfig::timer_a_cap`] when set), E and G double up to T2. Other timers
    /// do not repeat; their interval is returned unchanged.
    pub fn next_interval(&self, timer: Timer, current: Duration) -> Duration {
        let doubled = current.saturating_mul(2);
        let next = match timer {
            Timer::A => self.timer_a_cap.map_or(doubled, |cap| doubled.min(cap)),
            Timer::E | Timer::G => doubled.min(self.t2),
            _ => current,
        };
        next.max(MIN_INTERVAL)
    }

    /// The Timer E interval in the Proceeding state (RFC 3261 §17.1.2.2): T2.
    pub fn proceeding_interval(&self) -> Duration {
        self.t2.max(MIN_INTERVAL)
    }
}

/// The armed deadlines of one transaction, indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
pub(super) struct TimerSet([Option<Instant>; 12]);

impl TimerSet {
    /// The deadline of `timer`, when armed.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }
    /// Arm `timer` for `at` (replacing an earlier deadline).
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }
    /// Disarm `timer`.
    pub(super) fn clear(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }
    /// Disarm every timer (on a state change).
    pub(super) fn clear_all(&mut self) {
        self.0 = [None; 12];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_table() {
        let c = TimerConfig::default();
        let ms = Duration::from_millis;
        assert_eq!(c.initial(Timer::A, Transport::Udp), ms(500));
        assert_eq!(c.initial(Timer::B, Transport::Tcp), ms(32_000));
        assert_eq!(c.initial(Timer::D, Transport::Udp), ms(32_000));
        assert_eq!(c.initial(Timer::D, Transport::Tcp), Duration::ZERO);
        assert_eq!(c.initial(Timer::I, Transport::Udp), ms(5_000));
        assert_eq!(c.initial(Timer::J, Transport::Udp), ms(32_000));
        assert_eq!(c.initial(Timer::J, Transport::Tcp), Duration::ZERO);
        assert_eq!(c.initial(Timer::K, Transport::Tcp), Duration::ZERO);
        assert_eq!(c.next_interval(Timer::E, ms(4_000)), ms(4_000));
        assert_eq!(c.next_interval(Timer::G, ms(2_000)), ms(4_000));
        assert_eq!(c.next_interval(Timer::A, ms(4_000)), ms(8_000));
        let capped = TimerConfig { timer_a_cap: Some(c.t2), ..c };
        assert_eq!(capped.next_interval(Timer::A, ms(4_000)), ms(4_000));
        let zero = TimerConfig::scaled(Duration::ZERO);
        assert!(zero.initial(Timer::E, Transport::Udp) > Duration::ZERO);
        assert!(zero.next_interval(Timer::G, Duration::ZERO) > Duration::ZERO);
        let huge = TimerConfig::scaled(Duration::MAX);
        assert_eq!(huge.next_interval(Timer::A, Duration::MAX), Duration::MAX);
    }
}
