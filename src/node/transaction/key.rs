//! Transaction identity: matching requests to server transactions (RFC 3261 §17.2.3, with the
//! RFC 2543 fallback for branches without the `z9hG4bK` magic cookie, RFC 4475 `badbranch`),
//! matching responses to client transactions (§17.1.3), and where a server transaction sends
//! its responses (§18.2.2 with RFC 3581 `rport`).

use std::net::SocketAddr;

use super::{Flow, TxError};
use crate::sip::uri::ViaRef;
use crate::sip::{Message, Method};

/// The RFC 3261 magic cookie that starts every branch of a compliant element (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// What identifies a server transaction (RFC 3261 §17.2.3). ACK is keyed as INVITE, so an
/// ACK finds the INVITE transaction it acknowledges; a CANCEL has its own key (method
/// CANCEL) and finds its target through [`ServerKey::with_method`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// A branch with the magic cookie: branch, sent-by and method.
    Branch {
        /// The branch parameter, compared exactly.
        branch: String,
        /// sent-by host, lowercased.
        host: String,
        /// sent-by port, as written.
        port: Option<u16>,
        /// The request method (ACK as INVITE).
        method: Method,
    },
    /// RFC 2543 matching, for a missing branch or one that is only the cookie or lacks it:
    /// Request-URI, tags, Call-ID, CSeq and the top Via.
    Legacy {
        /// The Request-URI as written.
        request_uri: String,
        /// The From tag.
        from_tag: Option<String>,
        /// The To tag of the request (an ACK is looked up by the To tag of the response).
        to_tag: Option<String>,
        /// The Call-ID.
        call_id: String,
        /// The CSeq number.
        cseq: u32,
        /// The request method (ACK as INVITE).
        method: Method,
        /// The top Via value as written.
        top_via: String,
    },
}

/// True when `branch` is an RFC 3261 transaction id: the magic cookie and something after it.
pub fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

impl ServerKey {
    /// The key of a request. ACK is keyed as INVITE. Errors when the request lacks what
    /// matching needs (a parseable top Via; for RFC 2543 matching also Call-ID and CSeq).
    pub fn of_request(msg: &Message) -> Result<ServerKey, TxError> {
        ServerKey::of_request_via(msg).map(|(key, _)| key)
    }

    /// [`ServerKey::of_request`] and where the request's responses go ([`response_target`]),
    /// its top Via read once for both.
    pub fn of_request_replying(msg: &Message, flow: &Flow) -> Result<(ServerKey, SocketAddr), TxError> {
        let (key, via) = ServerKey::of_request_via(msg)?;
        Ok((key, reply_target(&via, msg.bytes(), flow)))
    }

    /// The key and the top Via it was read from.
    fn of_request_via(msg: &Message) -> Result<(ServerKey, ViaRef<'_>), TxError> {
        let method = match msg.method() {
            Some(Method::Ack) => Method::Invite,
            Some(m) => m.clone(),
            None => return Err(TxError::NotARequest),
        };
        let top = msg.top_via().ok_or(TxError::Unmatchable("no Via"))?;
        let via = ViaRef::parse(msg.bytes(), top).ok_or(TxError::Unmatchable("malformed top Via"))?;
        match via.branch(msg.bytes()) {
            Some(branch) if is_rfc3261_branch(&branch) => {
                Ok((ServerKey::Branch { branch, host: via.host.to_ascii_lowercase(), port: via.port, method }, via))
            }
            _ => {
                let (cseq, _) = msg.cseq().map_err(|_| TxError::Unmatchable("no valid CSeq"))?;
                let call_id = msg.call_id().ok_or(TxError::Unmatchable("no Call-ID"))?;
                let key = ServerKey::Legacy {
                    request_uri: msg.request_uri().unwrap_or_default().into_owned(),
                    from_tag: msg.from_tag(),
                    to_tag: msg.to_tag(),
                    call_id: call_id.into_owned(),
                    cseq,
                    method,
                    top_via: String::from_utf8_lossy(msg.slice(top)).into_owned(),
                };
                Ok((key, via))
            }
        }
    }

    /// The same key with another method: a CANCEL's key with INVITE finds its target.
    pub fn with_method(&self, method: Method) -> ServerKey {
        let mut k = self.clone();
        match &mut k {
            ServerKey::Branch { method: m, .. } | ServerKey::Legacy { method: m, .. } => *m = method,
        }
        k
    }

    /// For RFC 2543 keys, the same key with another To tag (the ACK for an initial INVITE
    /// carries the tag of the response, while the INVITE had none).
    pub(super) fn with_to_tag(&self, tag: Option<String>) -> ServerKey {
        let mut k = self.clone();
        if let ServerKey::Legacy { to_tag, .. } = &mut k {
            *to_tag = tag;
        }
        k
    }

    /// True for an RFC 2543 key.
    pub fn is_legacy(&self) -> bool {
        matches!(self, ServerKey::Legacy { .. })
    }
}

/// What identifies a client transaction (RFC 3261 §17.1.3): the branch of the top Via and
/// the CSeq method (so a CANCEL and its INVITE, which share a branch, stay apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch parameter the client transaction put in its top Via.
    pub branch: String,
    /// The method of the request (the CSeq method of its responses).
    pub method: Method,
}

impl ClientKey {
    /// The key a response matches: its top Via branch and CSeq method.
    pub fn of_response(msg: &Message) -> Result<ClientKey, TxError> {
        let branch = msg.top_via_branch().ok_or(TxError::Unmatchable("no branch in the top Via"))?;
        let (_, method) = msg.cseq().map_err(|_| TxError::Unmatchable("no valid CSeq"))?;
        Ok(ClientKey { branch, method })
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581): over a reliable transport
/// back to the source (the same connection); over UDP to the source address when the top
/// Via has `rport`, otherwise to the source IP (the `received` address) and the sent-by port
/// (5060 when absent). `maddr` is not supported. An unparseable Via falls back to the source.
pub fn response_target(request: &Message, flow: &Flow) -> SocketAddr {
    if flow.transport.is_reliable() {
        return flow.remote;
    }
    match request.top_via().and_then(|v| ViaRef::parse(request.bytes(), v)) {
        Some(via) => reply_target(&via, request.bytes(), flow),
        None => flow.remote,
    }
}

/// [`response_target`] of a request whose top Via (of `buf`) is `via`.
fn reply_target(via: &ViaRef<'_>, buf: &[u8], flow: &Flow) -> SocketAddr {
    if flow.transport.is_reliable() || via.param(buf, "rport").is_some() {
        return flow.remote;
    }
    SocketAddr::new(flow.remote.ip(), via.port.unwrap_or(5060))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::Transport;

    proptest::proptest! {
        /// The key and the reply address read from one parse of the top Via are those
        /// [`ServerKey::of_request`] and [`response_target`] give (which share that code, so
        /// this part only guards the plumbing) and, independently, what RFC 3261 §18.2.2 and
        /// RFC 3581 say, written out here.
        #[test]
        fn one_via_read_gives_the_key_and_the_reply_target(
            via in proptest::sample::select(vec![
                "SIP/2.0/UDP 192.0.2.2:5062;branch=z9hG4bK1", "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK1;rport",
                "SIP/2.0/UDP h.example.net;rport=9;branch=z9hG4bK2", "SIP/2.0/TCP [::1]:5070;branch=z9hG4bK3",
                "SIP/2.0/UDP 192.0.2.2:5062;branch=1234", "SIP/2.0/UDP 192.0.2.2:5062", "SIP/2.0 bad",
                "SIP/2.0/UDP 192.0.2.2:5062;RPORT;branch=z9hG4bK4", "SIP/2.0/UDP h.example.net;branch=z9hG4bK5",
                "SIP/2.0/UDP [::1];branch=z9hG4bK6",
            ]),
            reliable in proptest::bool::ANY,
            port in 1u16..,
        ) {
            let text = format!(
                "MESSAGE sip:b@c SIP/2.0\r\nVia: {via}\r\nVia: SIP/2.0/UDP 192.0.2.9:7;branch=z9hG4bK9\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
            );
            let msg = Message::parse(text.into_bytes()).unwrap();
            let flow = Flow {
                transport: if reliable { Transport::Tcp } else { Transport::Udp },
                local: "192.0.2.1:5060".parse().unwrap(),
                remote: SocketAddr::new("192.0.2.7".parse().unwrap(), port),
            };
            match (ServerKey::of_request_replying(&msg, &flow), ServerKey::of_request(&msg)) {
                (Ok((key, reply)), Ok(want)) => {
                    proptest::prop_assert_eq!(key, want);
                    proptest::prop_assert_eq!(reply, response_target(&msg, &flow));
                    // RFC 3261 §18.2.2 and RFC 3581 as written, not through the code: back
                    // along a reliable flow or to the source with `rport`, else the source IP
                    // and the sent-by port (5060 when absent).
                    let sent_by = via.split([' ', ';']).nth(1).unwrap_or_default();
                    let via_port = sent_by.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(5060);
                    let want = if reliable || via.to_ascii_lowercase().contains(";rport") {
                        flow.remote
                    } else {
                        SocketAddr::new(flow.remote.ip(), via_port)
                    };
                    proptest::prop_assert_eq!(reply, want, "{}", via);
                }
                (Err(a), Err(b)) => proptest::prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => proptest::prop_assert!(false, "{:?} against {:?}", a, b),
            }
        }
    }
}
