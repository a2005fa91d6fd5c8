//! `--listen` / `--sut` addresses: `udp:127.0.0.1:5060`, `tcp:[::1]:5060` (the command-line conventions).
//! Hosts are IP literals; nothing is resolved.

use crate::base::Transport;
use crate::base::escape::escape;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// One transport address: what the driver binds (or, for `--sut`, where a peer listens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    /// UDP or TCP.
    pub transport: Transport,
    /// IP and port; port 0 asks the OS for a free port (see `Bound::local_addrs`).
    pub addr: SocketAddr,
}

impl Listen {
    /// A UDP address.
    pub fn udp(addr: SocketAddr) -> Listen {
        Listen { transport: Transport::Udp, addr }
    }
    /// A TCP address.
    pub fn tcp(addr: SocketAddr) -> Listen {
        Listen { transport: Transport::Tcp, addr }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SocketAddr's Display brackets IPv6, so this round-trips through FromStr.
        write!(f, "{}:{}", self.transport.as_str().to_ascii_lowercase(), self.addr)
    }
}

/// Why a `TRANSPORT:IP:PORT` string was rejected; every message names the offending part,
/// escaped as every text from input is (`crate::base::escape`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenParseError {
    /// No `TRANSPORT:` prefix.
    #[error("`{}`: expected TRANSPORT:IP:PORT, e.g. udp:127.0.0.1:5060 or tcp:[::1]:5060", escape(.input))]
    Shape {
        /// The whole input.
        input: String,
    },
    /// The transport is neither `udp` nor `tcp`.
    #[error("`{}`: unknown transport `{}` (expected `udp` or `tcp`)", escape(.input), escape(.transport))]
    Transport {
        /// The whole input.
        input: String,
        /// The part before the first colon.
        transport: String,
    },
    /// No `:PORT` after the host.
    #[error("`{}`: missing port after `{}` (expected IP:PORT, IPv6 in brackets: [::1]:5060)", escape(.input), escape(.host))]
    MissingPort {
        /// The whole input.
        input: String,
        /// The host part.
        host: String,
    },
    /// The port is not a number in 0..=65535.
    #[error("`{}`: bad port `{}` (expected a number 0..=65535)", escape(.input), escape(.port))]
    Port {
        /// The whole input.
        input: String,
        /// The port part.
        port: String,
    },
    /// The host is not an IP literal.
    #[error(
        "`{}`: bad IP address `{}` (an IPv4 literal or a bracketed IPv6 literal; hostnames are not resolved)",
        escape(.input),
        escape(.host)
    )]
    Host {
        /// The whole input.
        input: String,
        /// The host part.
        host: String,
    },
}

impl FromStr for Listen {
    type Err = ListenParseError;

    fn from_str(s: &str) -> Result<Listen, ListenParseError> {
        let input = s.to_string();
        let Some((transport, rest)) = s.trim().split_once(':') else {
            return Err(ListenParseError::Shape { input });
        };
        let transport = match transport.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "" => return Err(ListenParseError::Shape { input }),
            _ => return Err(ListenParseError::Transport { input, transport: transport.to_string() }),
        };
        let (host, port) = split_host_port(rest, &input)?;
        let ip: IpAddr =
            host.parse().map_err(|_| ListenParseError::Host { input: input.clone(), host: host.to_string() })?;
        let port: u16 =
            port.parse().map_err(|_| ListenParseError::Port { input: input.clone(), port: port.to_string() })?;
        Ok(Listen { transport, addr: SocketAddr::new(ip, port) })
    }
}

/// `1.2.3.4:5` or `[::1]:5`; an unbracketed IPv6 literal is a host without a port.
fn split_host_port<'a>(rest: &'a str, input: &str) -> Result<(&'a str, &'a str), ListenParseError> {
    let missing = |host: &str| ListenParseError::MissingPort { input: input.to_string(), host: host.to_string() };
    if let Some(inner) = rest.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(ListenParseError::Host { input: input.to_string(), host: rest.to_string() });
        };
        let port = after.strip_prefix(':').ok_or_else(|| missing(rest))?;
        return Ok((host, port));
    }
    match rest.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(missing(rest)),
        Some((host, port)) => Ok((host, port)),
        None => Err(missing(rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6() {
        let l: Listen = "udp:127.0.0.1:5070".parse().unwrap();
        assert_eq!(l, Listen::udp("127.0.0.1:5070".parse().unwrap()));
        let l: Listen = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(l, Listen::tcp("[::1]:5070".parse().unwrap()));
        assert_eq!(l.to_string(), "tcp:[::1]:5070");
        assert_eq!(l.to_string().parse::<Listen>().unwrap(), l);
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = |s: &str| s.parse::<Listen>().unwrap_err();
        assert!(matches!(err("127.0.0.1"), ListenParseError::Shape { .. }));
        assert!(matches!(err(":1.2.3.4:5"), ListenParseError::Shape { .. }));
        let e = err("sctp:1.2.3.4:5");
        assert!(e.to_string().contains("`sctp`"), "{e}");
        assert!(matches!(err("udp:1.2.3.4"), ListenParseError::MissingPort { .. }));
        assert!(matches!(err("udp:::1:5060"), ListenParseError::MissingPort { .. }));
        assert!(matches!(err("udp:[::1]"), ListenParseError::MissingPort { .. }));
        let e = err("udp:1.2.3.4:70000");
        assert!(e.to_string().contains("`70000`"), "{e}");
        let e = err("tcp:localhost:5060");
        assert!(e.to_string().contains("`localhost`"), "{e}");
        assert!(matches!(err("tcp:[::1:5060"), ListenParseError::Host { .. }));
        assert!(matches!(err("tcp:[::x]:5060"), ListenParseError::Host { .. }));
    }
}
