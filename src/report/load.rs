//! What a load run measured besides the verdicts (`imcpm load`, report.json `load`,
//! docs/load.md): per step, per second, latency percentiles, totals.

use serde::Serialize;

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th.
    pub p90_us: u64,
    /// 99th.
    pub p99_us: u64,
    /// 99.9th.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// Counts of one second or one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Initial requests due (the schedule).
    pub offered: u64,
    /// Initial requests sent (first sends).
    pub sent: u64,
    /// Final responses received for them.
    pub answered: u64,
    /// Of those, not 2xx.
    pub rejected: u64,
    /// Requests with no final response within 64·T1.
    pub unanswered: u64,
    /// Retransmissions the harness sent (RFC 3261 Timer E).
    pub retransmissions: u64,
    /// Initial requests the harness could not send (over TCP: no connection to the server
    /// could be made): never judged; any makes the run fail.
    pub unsent: u64,
}

/// One second of the run (by scheduled time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Second {
    /// Seconds since the start.
    pub at_s: u64,
    /// Counts of the requests scheduled in that second.
    pub counts: Counts,
    /// Their latency, scheduled send to final response.
    pub latency: Percentiles,
}

/// One step of the schedule, as it went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepReport {
    /// Offered rate, per second.
    pub rate: u32,
    /// Its length, seconds.
    pub duration_s: u64,
    /// Achieved rate: requests answered per second of the step.
    pub achieved: f64,
    /// Counts of the requests scheduled in it.
    pub counts: Counts,
    /// Latency, scheduled send to final response.
    pub latency: Percentiles,
    /// Failing results (FAIL, ERROR, XPASS) of its requests.
    pub failing: u64,
    /// No failing result, no unanswered request, p99 latency within the bound.
    pub clean: bool,
}

/// What a load run measured (the verdicts aside).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadStats {
    /// The server under test.
    pub sut: String,
    /// The transport to it, `udp` or `tcp`.
    pub transport: String,
    /// Where the harness listened.
    pub harness: String,
    /// Users on each side.
    pub population: usize,
    /// Per step, as far as the run went (a ramp stops after the first step that is not clean).
    pub steps: Vec<StepReport>,
    /// The rate of the last clean step of an unbroken run of clean steps from the first.
    pub last_clean_rate: Option<u32>,
    /// The p99 latency bound of a clean step, ms.
    pub max_p99_ms: u64,
    /// Per second.
    pub seconds: Vec<Second>,
    /// All requests, per service: scheduled send to final response.
    pub latency: Vec<(String, Percentiles)>,
    /// All requests, per service: the harness's send to the server's egress.
    pub egress_latency: Vec<(String, Percentiles)>,
    /// Totals.
    pub totals: Counts,
    /// Datagrams the kernel dropped on the harness's socket.
    pub drops: u64,
    /// The receive buffer the kernel gave the harness's socket, bytes.
    pub rcvbuf: usize,
    /// Messages handed to the judge.
    pub messages: u64,
    /// TCP connections (to or from the server) that ended while the run went on: closed by
    /// the server, or on an error.
    pub tcp_closed: u64,
    /// Messages the harness could not send: no connection to their peer, or none could be
    /// made.
    pub unsent: u64,
}

impl LoadStats {
    /// One sentence of what the run did: where to, the totals, the messages judged, the drops
    /// (over UDP) or the connections (over TCP).
    pub fn summary(&self) -> String {
        let t = &self.totals;
        format!(
            "To {} over {} from {} ({} users each side): {} requests offered, {} sent ({} could not be sent), {} answered ({} not 2xx), {} unanswered within 64·T1, {} retransmissions; {} messages judged; {}.",
            self.sut,
            self.transport.to_ascii_uppercase(),
            self.harness,
            self.population,
            t.offered,
            t.sent,
            t.unsent,
            t.answered,
            t.rejected,
            t.unanswered,
            t.retransmissions,
            self.messages,
            self.transport_note()
        )
    }

    /// What the transport lost: datagrams dropped by the harness's socket over UDP; over TCP
    /// (and toward a UDP server when a TCP connection closed or a message was not sent)
    /// connections closed and messages not sent.
    pub fn transport_note(&self) -> String {
        let tcp = format!(
            "{} TCP connection(s) closed during the run, {} message(s) the harness could not send (no connection, or its write queue full)",
            self.tcp_closed, self.unsent
        );
        if self.transport == "tcp" {
            return tcp;
        }
        let udp =
            format!("{} datagrams dropped by the harness's socket (receive buffer {} bytes)", self.drops, self.rcvbuf);
        if self.tcp_closed > 0 || self.unsent > 0 { format!("{udp}; {tcp}") } else { udp }
    }
}
