//! Proxy mechanics on the ISC interface (RFC 3261 §16.6, docs/decisions.md D6): pop our own Route
//! entry, add our Via with a fresh branch, decrement Max-Forwards, Record-Route INVITEs, choose
//! the transport (D9: over 1300 bytes on UDP goes TCP), and strip our Via from responses. All of
//! it as span edits on the received bytes.

use super::ImServer;
use super::faults::Fault;
use crate::base::Transport;
use crate::sip::{Edit, HeaderName, Message, SipUri, Span, apply_edits};
use std::net::{IpAddr, SocketAddr};

/// RFC 3261 §18.1.1: requests larger than this go over a congestion-controlled transport.
pub const UDP_LIMIT: usize = 1300;

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Transport.
    pub transport: Transport,
    /// Destination.
    pub to: SocketAddr,
    /// Our branch.
    pub branch: String,
}

/// Why a request cannot be forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// The next hop's host is unknown.
    Unresolvable(String),
    /// Our own edits collide (a bug of ours): answered 500, never forwarded half-done.
    EditConflict,
    /// The next hop is one of our own addresses: a loop (answered 482, RFC 3261 §16.3 step 4).
    ToSelf(SocketAddr),
}

impl ImServer {
    /// Is this URI ours (a Route entry naming this server)?
    pub(super) fn is_own(&self, uri: &SipUri) -> bool {
        self.is_own_at(&uri.host, uri.port)
    }

    /// Is a URI with this host (any case) and port ours?
    pub(super) fn is_own_at(&self, host: &str, port: Option<u16>) -> bool {
        // Our name with another port is another element on the same host (e.g. the next hop
        // on the same IP when our name is an IP literal): not ours.
        let our_port = |p: Option<u16>| p.is_none_or(|p| self.config.addrs.iter().any(|(_, a)| a.port() == p));
        if host.eq_ignore_ascii_case(&self.config.host) {
            return our_port(port);
        }
        let Ok(ip) = host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() else { return false };
        // A wildcard listen owns its port on loopback and unspecified addresses (as in
        // `is_own_addr`).
        self.config.addrs.iter().any(|(_, a)| {
            (a.ip() == ip || (a.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
                && port.is_none_or(|p| p == a.port())
        })
    }

    /// Is this address one we listen on? A wildcard listen (`0.0.0.0`, `::`) owns its port on
    /// every loopback and unspecified address (the only ones we know to be ours without I/O).
    pub(super) fn is_own_addr(&self, to: SocketAddr) -> bool {
        self.config.addrs.iter().any(|(_, a)| {
            a.port() == to.port()
                && (a.ip() == to.ip()
                    || (a.ip().is_unspecified() && (to.ip().is_loopback() || to.ip().is_unspecified())))
        })
    }

    /// Resolve a URI to an address (IP literal, or the configured host table) and its
    /// transport parameter.
    pub(super) fn resolve(&self, uri: &SipUri) -> Option<(SocketAddr, Option<Transport>)> {
        let t = uri.param("transport").and_then(|t| match t.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            _ => None,
        });
        let host = uri.host.trim_matches(|c| c == '[' || c == ']');
        let addr = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, uri.port.unwrap_or(5060)),
            Err(_) => {
                let a = *self.config.hosts.get(&host.to_ascii_lowercase())?;
                SocketAddr::new(a.ip(), uri.port.unwrap_or(a.port()))
            }
        };
        Some((addr, t))
    }

    /// Our own address for a transport (the first listen of it, else any).
    pub(super) fn local_addr(&self, t: Transport) -> (Transport, SocketAddr) {
        self.config
            .addrs
            .iter()
            .find(|(x, _)| *x == t)
            .or_else(|| self.config.addrs.first())
            .copied()
            .unwrap_or((t, SocketAddr::from(([127, 0, 0, 1], 5060))))
    }

    /// Build the forwarded request: Appendix T edits plus the proxy's own.
    pub(super) fn build_forward(
        &mut self,
        msg: &Message,
        edits: Vec<Edit>,
        bypass_to: Option<SocketAddr>,
    ) -> Result<Forward, NoRoute> {
        // Route: pop our own entry (and own entries right after it: we Record-Route on both the
        // originating and the terminating pass); the next entry is the next hop.
        let popped = crate::node::route::pop_own(msg, |u| self.is_own_at(u.host, u.port));
        self.build_forward_popped(msg, popped, edits, bypass_to)
    }

    /// [`build_forward`](Self::build_forward) with our own Route entries already popped.
    pub(super) fn build_forward_popped(
        &mut self,
        msg: &Message,
        popped: crate::node::route::Popped,
        mut edits: Vec<Edit>,
        bypass_to: Option<SocketAddr>,
    ) -> Result<Forward, NoRoute> {
        let buf = msg.bytes();
        edits.extend(popped.edits);
        let next = popped.next;
        if bypass_to.is_some() {
            for h in msg.all(&HeaderName::Route) {
                if !edits.iter().any(|e| e.span == h.line) {
                    edits.retain(|e| !h.line.contains(e.span) || e.span.is_empty());
                    edits.push(Edit::remove(h.line));
                }
            }
        }
        let target = match (bypass_to, &next) {
            (Some(a), _) => (a, None),
            (None, Some(u)) => self.resolve(u).ok_or_else(|| NoRoute::Unresolvable(u.host.clone()))?,
            (None, None) => {
                let ru = msg.request_uri().and_then(|u| SipUri::parse(&u));
                let u = ru.ok_or_else(|| NoRoute::Unresolvable("Request-URI".into()))?;
                self.resolve(&u).ok_or_else(|| NoRoute::Unresolvable(u.host.clone()))?
            }
        };
        if self.is_own_addr(target.0) {
            return Err(NoRoute::ToSelf(target.0));
        }
        // Max-Forwards.
        match msg.first(&HeaderName::MaxForwards) {
            Some(h) if !self.config.faults.has(Fault::KeepMaxForwards) => {
                let n: u32 = msg.value(h).trim().parse().unwrap_or(70);
                let mut v = String::with_capacity(10);
                crate::base::push_digits(&mut v, u64::from(n.saturating_sub(1)), 0);
                edits.push(Edit::replace(h.value, v));
            }
            Some(_) => {}
            None => edits.push(Edit::append_header(msg, "Max-Forwards", "70")),
        }
        // Record-Route on dialog-creating INVITEs, so the server stays on the dialog.
        let via_at = msg.first(&HeaderName::Via).map_or(0, |h| h.line.start);
        if msg.method() == Some(&crate::sip::Method::Invite) && msg.to_tag().is_none() {
            // transport=tcp only when we listen on TCP: a UDP-only server must not send the
            // dialog's in-dialog requests to a TCP port nobody listens on (RFC 3263).
            let rr = match self.config.addrs.iter().find(|(t, _)| *t == Transport::Tcp) {
                Some((_, a)) => format!("<sip:{}:{};transport=tcp;lr>", self.config.host, a.port()),
                None => format!("<sip:{}:{};lr>", self.config.host, self.local_addr(Transport::Udp).1.port()),
            };
            let at = msg.first(&HeaderName::RecordRoute).map_or(msg.headers_end().start, |h| h.line.start);
            edits.push(Edit::header_before(msg, at, "Record-Route", &rr));
        }
        let mut branch = String::with_capacity(7 + 16);
        branch.push_str("z9hG4bK");
        branch.push_str(&self.ids.token(16));
        // RFC 3263 §4.1: a `sip:` next hop without a transport parameter (and no NAPTR/SRV,
        // which this server does not look up) is reached over UDP, whatever the request came in
        // on; D9: over 1300 bytes it goes TCP. Outgoing TCP needs no TCP listener.
        let mut transport = target.1.unwrap_or(Transport::Udp);
        let mut bytes = Vec::new();
        for _ in 0..2 {
            let (_, local) = self.local_addr(transport);
            let mut via = String::with_capacity(64 + self.config.host.len());
            via.push_str("SIP/2.0/");
            via.push_str(transport.as_str());
            via.push(' ');
            via.push_str(&self.config.host);
            via.push(':');
            crate::base::push_digits(&mut via, u64::from(local.port()), 0);
            via.push_str(";branch=");
            via.push_str(&branch);
            // Our Via last among the edits, taken off again before another try.
            edits.push(Edit::header_before(msg, via_at, "Via", &via));
            let built = apply_edits(buf, &edits).map_err(|_| NoRoute::EditConflict);
            edits.pop();
            bytes = self.apply_output_faults(msg, built?);
            if transport == Transport::Udp && bytes.len() > UDP_LIMIT && !self.config.faults.has(Fault::UdpOver1300) {
                transport = Transport::Tcp;
                continue;
            }
            break;
        }
        Ok(Forward { bytes, transport, to: target.0, branch })
    }
}

/// Whether `request` (whole bytes, as this server built them) is an INVITE: its start line's
/// first token, which the parser takes case-sensitively.
pub(super) fn is_invite(request: &[u8]) -> bool {
    let start = request.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(request.len());
    request[start..].starts_with(b"INVITE ")
}

/// A response with our top Via removed (RFC 3261 §16.7 step 3).
pub fn strip_top_via(resp: &Message) -> Vec<u8> {
    let buf = resp.bytes();
    let Some(h) = resp.first(&HeaderName::Via) else { return buf.to_vec() };
    let mut els = crate::sip::params::ListItems::new(buf, h.value);
    let edit = match (els.next(), els.next()) {
        (Some(first), Some(second)) => Edit::remove(Span::new(first.start, second.start)),
        _ => Edit::remove(h.line),
    };
    apply_edits(buf, &[edit]).unwrap_or_else(|_| buf.to_vec())
}

#[cfg(test)]
mod tests {
    use super::super::{ImServer, ServerConfig};
    use crate::base::{Instant, Packet, Transport};
    use crate::node::{Input, Output, SansIo};

    fn forwarded(server: &mut ImServer, req: &str, from: &str, to: &str) -> Vec<Packet> {
        let packet = Packet {
            transport: Transport::Udp,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            bytes: req.into(),
        };
        server.handle_input(Input::Receive { now: Instant::ZERO, packet });
        let mut out = Vec::new();
        while let Output::Transmit(p) = server.poll_output() {
            out.push(p);
        }
        out
    }

    /// A level-1 server named by its IP literal, on UDP 127.0.0.1:5070 only.
    fn udp_server() -> (&'static str, ImServer) {
        let me = "127.0.0.1:5070";
        let cfg = ServerConfig::new(
            crate::base::Level::One,
            "127.0.0.1",
            "im.example.net",
            vec![(Transport::Udp, me.parse().unwrap())],
        );
        (me, ImServer::new(cfg))
    }

    #[test]
    fn an_ip_literal_host_owns_only_its_own_ports() {
        let (me, mut s) = udp_server();
        let invite = "INVITE sip:bob@im.example.net SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK1\r\n\
            Route: <sip:127.0.0.1:5070;lr>, <sip:127.0.0.1:5080;lr>\r\n\
            Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@im.example.net>\r\n\
            Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5090>\r\nContent-Length: 0\r\n\r\n";
        let out = forwarded(&mut s, invite, "127.0.0.1:5090", me);
        let f = out.iter().find(|p| p.bytes.starts_with(b"INVITE")).expect("forwarded");
        assert_eq!(f.to, "127.0.0.1:5080".parse().unwrap());
        let text = String::from_utf8_lossy(&f.bytes);
        assert!(text.contains("\r\nRoute: <sip:127.0.0.1:5080;lr>\r\n"), "{text}");
        // UDP only: the Record-Route must not send the dialog to a TCP port nobody listens on.
        assert!(text.contains("Record-Route: <sip:127.0.0.1:5070;lr>\r\n"), "{text}");
    }

    /// An RFC 2543 INVITE (a branch without the magic cookie) answered 486: the relayed 486
    /// carries the downstream To tag, and the ACK the caller sends for it, matched by that tag
    /// (RFC 3261 §17.2.3, RFC 2543 rules), is absorbed by the server transaction, not
    /// forwarded. A server that stops keeping the final response's To tag for an INVITE
    /// transaction forwards that ACK instead.
    #[test]
    fn an_rfc2543_ack_for_a_relayed_final_response_is_absorbed() {
        let (me, mut s) = udp_server();
        let head = "sip:bob@im.example.net SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5090;branch=old2543\r\n\
            Route: <sip:127.0.0.1:5070;lr>, <sip:127.0.0.1:5080;lr>\r\n\
            Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\n";
        let invite = format!(
            "INVITE {head}To: <sip:bob@im.example.net>\r\nCall-ID: c2543\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:a@127.0.0.1:5090>\r\nContent-Length: 0\r\n\r\n"
        );
        let out = forwarded(&mut s, &invite, "127.0.0.1:5090", me);
        let f = out.iter().find(|p| p.bytes.starts_with(b"INVITE")).expect("forwarded");
        let fwd = crate::sip::Message::parse(f.bytes.clone()).unwrap();
        let busy = crate::node::transaction::response_to(&fwd, crate::sip::StatusCode::BUSY_HERE, Some("b486"));
        let out = forwarded(&mut s, std::str::from_utf8(&busy).unwrap(), "127.0.0.1:5080", me);
        let relayed = out.iter().find(|p| p.bytes.starts_with(b"SIP/2.0 486")).expect("the 486 relayed");
        assert!(String::from_utf8_lossy(&relayed.bytes).contains("tag=b486"));
        let ack = format!(
            "ACK {head}To: <sip:bob@im.example.net>;tag=b486\r\nCall-ID: c2543\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let out = forwarded(&mut s, &ack, "127.0.0.1:5090", me);
        assert!(
            !out.iter().any(|p| p.bytes.starts_with(b"ACK")),
            "the ACK for the relayed 486 is the server transaction's, not forwarded: {out:?}"
        );
    }
}
