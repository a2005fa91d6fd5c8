//! How a simulated client writes each service request in its own form (the protocol notes): IM clients
//! tag with `+g.oma.sip-im` (LMM: plus `.large-message`); CPM clients with the service's ICSI,
//! `P-Preferred-Service`, `+sip.instance`, `Conversation-ID` and `Contribution-ID` (a CPM client refuses an LMM INVITE without them with 400).

use crate::base::ClientKind;
use crate::base::Service;
use crate::interop::table::{ICSI_REF, IM_TAG, LMM_TAG};

/// Everything a request needs that varies per send.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    /// The service.
    pub service: Service,
    /// The client's kind.
    pub kind: ClientKind,
    /// Request-URI and To.
    pub to: &'a str,
    /// From AoR.
    pub from: &'a str,
    /// Via sent-by `host:port` and transport token.
    pub via: String,
    /// The branch.
    pub branch: String,
    /// From tag.
    pub tag: String,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Contact URI (INVITE).
    pub contact: String,
    /// The outbound proxy Route entry (`<sip:host;lr>`).
    pub route: String,
    /// Conversation-ID / Contribution-ID (CPM clients).
    pub ids: Option<(String, String)>,
    /// CPIM imdn.Message-ID of this message (pager, LMM).
    pub message_id: String,
    /// For an IMDN: the message reported on.
    pub reports_on: Option<String>,
    /// Replacement Accept-Contact lines (whole lines, any spelling), when given.
    pub accept_contact: Option<Vec<String>>,
    /// Extra header lines.
    pub extra: Vec<String>,
    /// Extra text to pad the body with (grows the request, e.g. past 1300 bytes).
    pub pad: usize,
    /// Group participants (resource-list entries).
    pub participants: Vec<String>,
    /// Client instance id (CPM `+sip.instance`).
    pub instance: String,
}

/// Contact feature params a client of `kind` advertises for `service`.
pub fn contact_tags(kind: ClientKind, service: Service, instance: &str) -> String {
    match kind {
        ClientKind::Im if service == Service::Lmm => format!(";{IM_TAG};{LMM_TAG}"),
        ClientKind::Im => format!(";{IM_TAG}"),
        ClientKind::Cpm => format!(";+sip.instance=\"<{instance}>\";{ICSI_REF}=\"{}\"", service.row().icsi_encoded),
    }
}

/// The REGISTER Contact params: every IM tag, or every CPM ICSI plus `+sip.instance`.
pub fn register_tags(kind: ClientKind, instance: &str) -> String {
    match kind {
        ClientKind::Im => format!(";{LMM_TAG};{IM_TAG}"),
        ClientKind::Cpm => {
            let icsis: Vec<&str> = [Service::Pager, Service::Lmm, Service::Ft, Service::Session]
                .iter()
                .map(|s| s.row().icsi_encoded)
                .collect();
            format!(";+sip.instance=\"<{instance}>\";{ICSI_REF}=\"{}\"", icsis.join(","))
        }
    }
}

fn accept_contact(kind: ClientKind, service: Service) -> String {
    match kind {
        ClientKind::Im if service == Service::Lmm => format!("*;{IM_TAG};{LMM_TAG}"),
        ClientKind::Im => format!("*;{IM_TAG}"),
        ClientKind::Cpm => format!("*;{ICSI_REF}=\"{}\"", service.row().icsi_encoded),
    }
}

fn cpim(from: &str, to: &str, message_id: &str, inner: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nDateTime: 2024-05-01T10:15:00.000Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {message_id}\r\nimdn.Disposition-Notification: positive-delivery, display\r\n\r\n{inner}"
    )
}

fn sdp(ip: &str, dir: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=- 3913312800 3913312800 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=setup:active\r\na=path:msrp://{ip}:9/s1;tcp\r\na=accept-types:message/cpim\r\n{extra}a={dir}\r\n"
    )
}

/// The body and its Content-Type for a service.
fn body(d: &Draft<'_>, ip: &str) -> (String, String) {
    let pad = "x".repeat(d.pad);
    match d.service {
        Service::Pager => (
            "message/cpim".into(),
            cpim(d.from, d.to, &d.message_id, &format!("Content-Type: text/plain;charset=UTF-8\r\n\r\nHello{pad}")),
        ),
        Service::Imdn => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"urn:ietf:params:xml:ns:imdn\">\r\n <message-id>{}</message-id>\r\n <datetime>2024-05-01T10:16:03.000Z</datetime>\r\n <delivery-notification><status><delivered/></status></delivery-notification>\r\n</imdn>\r\n",
                d.reports_on.as_deref().unwrap_or("unknown")
            );
            let inner = format!(
                "Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\nContent-Length: {}\r\n\r\n{xml}",
                xml.len()
            );
            let c = format!(
                "From: <{}>\r\nTo: <{}>\r\nDateTime: 2024-05-01T10:16:03.000Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: {}\r\n\r\n{inner}",
                d.from, d.to, d.message_id
            );
            ("message/cpim".into(), c)
        }
        Service::Lmm => (
            "application/sdp".into(),
            sdp(
                ip,
                "sendonly",
                &format!(
                    "a=accept-wrapped-types:*\r\na=max-size:245000\r\n{}",
                    if pad.is_empty() { String::new() } else { format!("a=x-pad:{pad}\r\n") }
                ),
            ),
        ),
        Service::Ft => (
            "application/sdp".into(),
            sdp(
                ip,
                "sendonly",
                &format!(
                    "a=file-selector:name:\"cat.jpg\" type:image/jpeg size:32349 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E\r\na=file-transfer-id:ft{}\r\na=file-disposition:attachment\r\n{}",
                    d.message_id,
                    if pad.is_empty() { String::new() } else { format!("a=x-pad:{pad}\r\n") }
                ),
            ),
        ),
        Service::Session => (
            "application/sdp".into(),
            sdp(ip, "sendrecv", &if pad.is_empty() { String::new() } else { format!("a=x-pad:{pad}\r\n") }),
        ),
        Service::Group => {
            let entries: String =
                d.participants.iter().map(|p| format!("  <entry uri=\"{p}\" cp:copyControl=\"to\"/>\r\n")).collect();
            let rl = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\" xmlns:cp=\"urn:ietf:params:xml:ns:copycontrol\">\r\n <list>\r\n{entries} </list>\r\n</resource-lists>\r\n"
            );
            let b = format!(
                "--bnd-7f3e2a\r\nContent-Type: application/sdp\r\n\r\n{}\r\n--bnd-7f3e2a\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n{rl}\r\n--bnd-7f3e2a--\r\n",
                sdp(ip, "sendrecv", "")
            );
            ("multipart/mixed;boundary=bnd-7f3e2a".into(), b)
        }
    }
}

/// Write the request.
pub fn request(d: &Draft<'_>, ip: &str) -> String {
    let method = if matches!(d.service, Service::Pager | Service::Imdn) { "MESSAGE" } else { "INVITE" };
    let mut h = format!(
        "{method} {to} SIP/2.0\r\nVia: {via};branch={branch}\r\nMax-Forwards: 70\r\nRoute: {route}\r\nFrom: <{from}>;tag={tag}\r\nTo: <{to}>\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n",
        to = d.to,
        via = d.via,
        branch = d.branch,
        route = d.route,
        from = d.from,
        tag = d.tag,
        cid = d.call_id,
        cseq = d.cseq
    );
    if method == "INVITE" {
        h.push_str(&format!("Contact: <{}>{}\r\n", d.contact, contact_tags(d.kind, d.service, &d.instance)));
    }
    match &d.accept_contact {
        Some(lines) => lines.iter().for_each(|l| h.push_str(&format!("{l}\r\n"))),
        None => h.push_str(&format!("Accept-Contact: {}\r\n", accept_contact(d.kind, d.service))),
    }
    if d.kind == ClientKind::Cpm {
        h.push_str(&format!("P-Preferred-Service: {}\r\n", d.service.row().icsi));
    }
    if let Some((conv, contrib)) = &d.ids {
        h.push_str(&format!("Conversation-ID: {conv}\r\nContribution-ID: {contrib}\r\n"));
    }
    if d.service == Service::Group {
        h.push_str("Require: recipient-list-invite\r\nSubject: Lunch\r\n");
    }
    for l in &d.extra {
        h.push_str(l);
        h.push_str("\r\n");
    }
    let (ct, b) = body(d, ip);
    h.push_str(&format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}", b.len()));
    h
}
