//! How the deliberate faults change an outgoing request: small textual edits on the header
//! lines (and body) of what the correct server would have sent. Only used when a fault is on.

use super::ImServer;
use super::faults::Fault;
use crate::interop::classify::classify;
use crate::sip::{Edit, HeaderName, Message, apply_edits};

fn edit_lines(bytes: Vec<u8>, names: &[HeaderName], f: impl Fn(&str) -> String) -> Vec<u8> {
    let Ok(m) = Message::parse(bytes.clone()) else { return bytes };
    let edits: Vec<Edit> = m
        .headers()
        .iter()
        .filter(|h| names.contains(&h.name))
        .filter_map(|h| {
            let v = m.value(h);
            let n = f(&v);
            (n != v).then(|| Edit::replace(h.value, n))
        })
        .collect();
    apply_edits(&bytes, &edits).unwrap_or(bytes)
}

fn remove_lines(bytes: Vec<u8>, name: HeaderName) -> Vec<u8> {
    let Ok(m) = Message::parse(bytes.clone()) else { return bytes };
    let edits: Vec<Edit> = m.all(&name).map(|h| Edit::remove(h.line)).collect();
    apply_edits(&bytes, &edits).unwrap_or(bytes)
}

const TAGS: [HeaderName; 2] = [HeaderName::AcceptContact, HeaderName::Contact];

impl ImServer {
    /// Apply the output faults that are on to the request `out` built from `ingress`.
    pub(super) fn apply_output_faults(&mut self, ingress: &Message, mut out: Vec<u8>) -> Vec<u8> {
        let faults = self.config.faults.clone();
        if faults.is_empty() {
            return out;
        }
        let had = |n: HeaderName| ingress.first(&n).is_some();
        let lower = String::from_utf8_lossy(ingress.bytes()).to_ascii_lowercase();
        let ingress_cpm = lower.contains("3gpp-service.ims.icsi.oma.cpm.");
        let ingress_lmm = lower.contains("oma.cpm.largemsg");
        for f in faults.iter() {
            out = match f {
                Fault::ForgetLmmTag => edit_lines(out, &TAGS, |v| v.replace(";+g.oma.sip-im.large-message", "")),
                Fault::KeepCpmIcsi if ingress_cpm => {
                    let icsi = classify(ingress)
                        .map_or("urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg", |s| s.row().icsi_encoded);
                    let icsi = if ingress_lmm { "urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.largemsg" } else { icsi };
                    edit_lines(out, &TAGS, |v| {
                        if v.contains("+g.oma.sip-im") && !v.to_ascii_lowercase().contains("oma.cpm.") {
                            v.replacen("+g.oma.sip-im", &format!("+g.oma.sip-im;+g.3gpp.icsi-ref=\"{icsi}\""), 1)
                        } else {
                            v.to_string()
                        }
                    })
                }
                Fault::KeepImTag => edit_lines(out, &TAGS, |v| {
                    if v.contains("+g.3gpp.icsi-ref") && !v.contains("+g.oma.sip-im") {
                        format!("{v};+g.oma.sip-im")
                    } else {
                        v.to_string()
                    }
                }),
                Fault::DuplicateImTag if ingress_cpm => {
                    let Ok(m) = Message::parse(out.clone()) else { return out };
                    let e = Edit::append_header(&m, "Accept-Contact", "*;+g.oma.sip-im");
                    apply_edits(&out, &[e]).unwrap_or(out)
                }
                Fault::UnencodedIcsi => edit_lines(out, &TAGS, |v| v.replace("urn%3Aurn-7%3A", "urn:urn-7:")),
                Fault::OmitPas if !had(HeaderName::PAssertedService) => remove_lines(out, HeaderName::PAssertedService),
                Fault::OmitConversationId if !had(HeaderName::ConversationId) => {
                    remove_lines(out, HeaderName::ConversationId)
                }
                Fault::ReplaceConversationId if had(HeaderName::ConversationId) => {
                    let fresh = self.ids.uuid();
                    edit_lines(out, &[HeaderName::ConversationId], |_| fresh.clone())
                }
                Fault::DropRequire => edit_lines(out, &[HeaderName::AcceptContact], |v| v.replace(";require", "")),
                Fault::AlterBody => alter_body(out),
                Fault::WrongContentLength => {
                    let Ok(m) = Message::parse(out.clone()) else { return out };
                    let e = Edit::content_length(&m, m.body().len() + 1);
                    apply_edits(&out, &[e]).unwrap_or(out)
                }
                _ => out,
            };
        }
        out
    }
}

/// Append a line to the body and fix Content-Length, so only the body change is observed.
fn alter_body(out: Vec<u8>) -> Vec<u8> {
    let Ok(m) = Message::parse(out.clone()) else { return out };
    let added = b"X\r\n";
    let mut edits = vec![Edit::insert(m.bytes().len(), &added[..])];
    edits.push(Edit::content_length(&m, m.body().len() + added.len()));
    apply_edits(&out, &edits).unwrap_or(out)
}
