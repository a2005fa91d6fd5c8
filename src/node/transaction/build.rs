//! Messages the transaction layer and its TUs derive from a request: a response (RFC 3261
//! §8.2.6), 100 Trying (§8.2.6.1), the ACK for a non-2xx final response (§17.1.1.3) and a
//! CANCEL (§9.1). Copied header fields keep their name and value bytes as written; generated
//! lines end in CRLF.

use crate::sip::StatusCode;
use crate::sip::{Header, HeaderName, Message};

fn push_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Copy one header field: its name as written and its value.
fn copy(out: &mut Vec<u8>, msg: &Message, h: &Header) {
    push_line(out, msg.slice(h.name_span), msg.slice(h.value));
}

fn copy_all(out: &mut Vec<u8>, msg: &Message, name: &HeaderName) {
    for h in msg.all(name) {
        copy(out, msg, h);
    }
}

fn copy_first(out: &mut Vec<u8>, msg: &Message, name: &HeaderName) {
    if let Some(h) = msg.first(name) {
        copy(out, msg, h);
    }
}

/// Text safe for one line: CR and LF removed (a reason phrase never breaks the message).
fn one_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// A response to `request` (RFC 3261 §8.2.6.2): every Via field in order, From, To, Call-ID
/// and CSeq copied, `Content-Length: 0`. When `to_tag` is given and the request's To has no
/// tag, `;tag=<to_tag>` is appended to To. `code` should be 100..=699. The TU adds anything
/// else (Contact, Record-Route, a body) by span edits on the result.
pub fn response_to(request: &Message, status: StatusCode, to_tag: Option<&str>) -> Vec<u8> {
    build_response(request, status, status.reason(), to_tag, false)
}

/// A [`response_to`] with a reason phrase of our own instead of the RFC 3261 one.
pub fn response_with_reason(request: &Message, status: StatusCode, reason: &str, to_tag: Option<&str>) -> Vec<u8> {
    build_response(request, status, reason, to_tag, false)
}

/// 100 Trying for `request` (RFC 3261 §8.2.6.1, §17.2.1): a [`response_to`] without a To tag
/// that also copies Timestamp. Sending it is the TU's choice.
pub fn trying_for(request: &Message) -> Vec<u8> {
    build_response(request, StatusCode::TRYING, StatusCode::TRYING.reason(), None, true)
}

fn build_response(req: &Message, code: StatusCode, reason: &str, to_tag: Option<&str>, timestamp: bool) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {code} {}\r\n", one_line(reason)).into_bytes();
    copy_all(&mut out, req, &HeaderName::Via);
    copy_first(&mut out, req, &HeaderName::From);
    if let Some(h) = req.first(&HeaderName::To) {
        let mut value = req.slice(h.value).to_vec();
        if let Some(tag) = to_tag.filter(|_| req.to_tag().is_none()) {
            value.extend_from_slice(b";tag=");
            value.extend_from_slice(one_line(tag).as_bytes());
        }
        push_line(&mut out, req.slice(h.name_span), &value);
    }
    copy_first(&mut out, req, &HeaderName::CallId);
    copy_first(&mut out, req, &HeaderName::CSeq);
    if timestamp {
        copy_first(&mut out, req, &HeaderName::Other("timestamp".into()));
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// The common part of ACK and CANCEL (RFC 3261 §17.1.1.3, §9.1): the request line with the
/// original Request-URI, one Via equal to the original top Via, the original Route fields
/// and Max-Forwards (70 when absent), From, Call-ID.
fn hop_request(req: &Message, method: &str) -> Vec<u8> {
    let uri = req.request_uri().unwrap_or_default();
    let mut out = format!("{method} {uri} SIP/2.0\r\n").into_bytes();
    if let Some(top) = req.top_via() {
        push_line(&mut out, b"Via", req.slice(top));
    }
    copy_all(&mut out, req, &HeaderName::Route);
    match req.first(&HeaderName::MaxForwards) {
        Some(h) => copy(&mut out, req, h),
        None => push_line(&mut out, b"Max-Forwards", b"70"),
    }
    copy_first(&mut out, req, &HeaderName::From);
    out
}

fn finish(out: &mut Vec<u8>, req: &Message, method: &str) {
    copy_first(out, req, &HeaderName::CallId);
    // The client transaction checked CSeq before sending; 0 only for a request it refused.
    let num = req.cseq().map(|(n, _)| n).unwrap_or(0);
    push_line(out, b"CSeq", format!("{num} {method}").as_bytes());
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

/// The ACK a client transaction sends for a non-2xx final `response` to `invite` (RFC 3261
/// §17.1.1.3): same Request-URI, Call-ID, From and CSeq number as the INVITE, To from the
/// response (with its tag), one Via equal to the INVITE's top Via (same branch), the
/// INVITE's Route fields.
pub fn ack_for(invite: &Message, response: &Message) -> Vec<u8> {
    let mut out = hop_request(invite, "ACK");
    copy_first(&mut out, response, &HeaderName::To);
    finish(&mut out, invite, "ACK");
    out
}

/// A CANCEL for `request` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To and CSeq
/// number, one Via equal to the request's top Via (same branch, so it matches the INVITE's
/// server transaction downstream), the request's Route fields.
pub fn cancel_for(request: &Message) -> Vec<u8> {
    let mut out = hop_request(request, "CANCEL");
    copy_first(&mut out, request, &HeaderName::To);
    finish(&mut out, request, "CANCEL");
    out
}
