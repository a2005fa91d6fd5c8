//! Header names (an open enum with RFC 3261 compact forms) and header fields as spans.

use crate::sip::span::Span;

/// Room for the known names of one length in [`BY_LENGTH`].
const BUCKET: usize = 8;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $var:ident = $canon:literal $(, compact $c:literal)? ;)*) => {
        /// A SIP header name. Matching is case-insensitive and compact forms map to their long
        /// names; unknown names are kept (lowercased) and compare by that.
        ///
        /// A byte tag of its own (`repr(u8)`) rather than one folded into the `String`'s
        /// capacity: names are compared at every header lookup, and a tag compares in one
        /// instruction.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum HeaderName {
            $( $(#[$doc])* $var, )*
            /// Any other header, by its lowercased name.
            Other(String),
        }

        /// Every known name with its canonical spelling, in the order of the list.
        const KNOWN: &[(&str, HeaderName)] = &[$( ($canon, HeaderName::$var), )*];

        /// For each name length (up to 31), the indexes in [`KNOWN`] of the names of that
        /// length, in order, padded with `u8::MAX`.
        const BY_LENGTH: [[u8; BUCKET]; 32] = {
            let mut t = [[u8::MAX; BUCKET]; 32];
            let mut i = 0;
            while i < KNOWN.len() {
                let len = KNOWN[i].0.len();
                assert!(len < 32, "a known header name longer than 31 bytes");
                let mut k = 0;
                while t[len][k] != u8::MAX {
                    k += 1;
                    assert!(k < BUCKET, "more known header names of one length than BUCKET");
                }
                t[len][k] = i as u8;
                i += 1;
            }
            t
        };

        impl HeaderName {
            /// Classify a header name as written (any case, compact or long).
            pub fn parse(name: &str) -> HeaderName {
                if name.len() == 1 {
                    let c = name.as_bytes()[0].to_ascii_lowercase();
                    $( $( if c == $c { return HeaderName::$var; } )? )*
                }
                $( if name.eq_ignore_ascii_case($canon) { return HeaderName::$var; } )*
                HeaderName::Other(name.to_ascii_lowercase())
            }

            /// Classify a header name given as bytes (a token, so ASCII): the known names of
            /// its length only are compared ([`BY_LENGTH`]), as [`HeaderName::parse`] would
            /// compare them all.
            pub fn parse_bytes(name: &[u8]) -> HeaderName {
                if name.len() == 1 {
                    let c = name[0].to_ascii_lowercase();
                    $( $( if c == $c { return HeaderName::$var; } )? )*
                }
                if let Some(bucket) = BY_LENGTH.get(name.len()) {
                    for &i in bucket.iter().take_while(|&&i| i != u8::MAX) {
                        let (canon, known) = &KNOWN[usize::from(i)];
                        if name.eq_ignore_ascii_case(canon.as_bytes()) {
                            return known.clone();
                        }
                    }
                }
                HeaderName::Other(String::from_utf8_lossy(name).to_ascii_lowercase())
            }

            /// The canonical long spelling.
            pub fn canonical(&self) -> &str {
                match self {
                    $( HeaderName::$var => $canon, )*
                    HeaderName::Other(s) => s,
                }
            }

            /// The compact form, where RFC 3261 or an extension defines one.
            pub fn compact(&self) -> Option<char> {
                match self {
                    $( $( HeaderName::$var => Some($c as char), )? )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    /// Via (`v`)
    Via = "Via", compact b'v';
    /// From (`f`)
    From = "From", compact b'f';
    /// To (`t`)
    To = "To", compact b't';
    /// Call-ID (`i`)
    CallId = "Call-ID", compact b'i';
    /// CSeq
    CSeq = "CSeq";
    /// Max-Forwards
    MaxForwards = "Max-Forwards";
    /// Route
    Route = "Route";
    /// Record-Route
    RecordRoute = "Record-Route";
    /// Contact (`m`)
    Contact = "Contact", compact b'm';
    /// Content-Length (`l`)
    ContentLength = "Content-Length", compact b'l';
    /// Content-Type (`c`)
    ContentType = "Content-Type", compact b'c';
    /// Content-Encoding (`e`)
    ContentEncoding = "Content-Encoding", compact b'e';
    /// Content-Disposition
    ContentDisposition = "Content-Disposition";
    /// Supported (`k`)
    Supported = "Supported", compact b'k';
    /// Subject (`s`)
    Subject = "Subject", compact b's';
    /// Event (`o`)
    Event = "Event", compact b'o';
    /// Allow-Events (`u`)
    AllowEvents = "Allow-Events", compact b'u';
    /// Refer-To (`r`)
    ReferTo = "Refer-To", compact b'r';
    /// Referred-By (`b`)
    ReferredBy = "Referred-By", compact b'b';
    /// Accept-Contact (`a`, RFC 3841)
    AcceptContact = "Accept-Contact", compact b'a';
    /// Reject-Contact (`j`, RFC 3841)
    RejectContact = "Reject-Contact", compact b'j';
    /// Request-Disposition (`d`, RFC 3841)
    RequestDisposition = "Request-Disposition", compact b'd';
    /// Session-Expires (`x`, RFC 4028)
    SessionExpires = "Session-Expires", compact b'x';
    /// Identity (`y`, RFC 8224)
    Identity = "Identity", compact b'y';
    /// Identity-Info (`n`, RFC 4474)
    IdentityInfo = "Identity-Info", compact b'n';
    /// Require
    Require = "Require";
    /// Proxy-Require
    ProxyRequire = "Proxy-Require";
    /// Unsupported
    Unsupported = "Unsupported";
    /// Expires
    Expires = "Expires";
    /// P-Asserted-Service (RFC 6050)
    PAssertedService = "P-Asserted-Service";
    /// P-Preferred-Service (RFC 6050)
    PPreferredService = "P-Preferred-Service";
    /// P-Asserted-Identity (RFC 3325)
    PAssertedIdentity = "P-Asserted-Identity";
    /// P-Served-User (RFC 5502)
    PServedUser = "P-Served-User";
    /// Conversation-ID (OMA CPM)
    ConversationId = "Conversation-ID";
    /// Contribution-ID (OMA CPM)
    ContributionId = "Contribution-ID";
    /// InReplyTo-Contribution-ID (OMA CPM)
    InReplyToContributionId = "InReplyTo-Contribution-ID";
    /// Path (RFC 3327)
    Path = "Path";
    /// Service-Route (RFC 3608)
    ServiceRoute = "Service-Route";
    /// Accept
    Accept = "Accept";
    /// User-Agent
    UserAgent = "User-Agent";
    /// Server
    Server = "Server";
    /// Date
    Date = "Date";
    /// Retry-After
    RetryAfter = "Retry-After";
    /// Warning
    Warning = "Warning";
}

impl HeaderName {
    /// True for headers whose grammar is a comma-separated list (RFC 3261 §7.3.1): only those
    /// may be split on commas.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Contact
                | HeaderName::AcceptContact
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::PAssertedService
                | HeaderName::PPreferredService
                | HeaderName::PAssertedIdentity
                | HeaderName::Path
                | HeaderName::ServiceRoute
                | HeaderName::Accept
                | HeaderName::AllowEvents
                | HeaderName::Warning
        )
    }
}

/// One header field of a message, as byte ranges into the message buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's identity (compact forms resolved).
    pub name: HeaderName,
    /// The name as written.
    pub name_span: Span,
    /// The value: after the colon and leading whitespace, up to (not including) the line end
    /// of the last continuation line. Folded line breaks stay inside.
    pub value: Span,
    /// The whole field including its final line end (and every folded continuation line).
    pub line: Span,
    /// 1-based line number of the field's first line.
    pub line_no: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length-bucketed lookup classifies as the plain comparison with every name does
    /// (`parse`): each known name in any case, compact forms, and unknown names of every
    /// length, the long ones included.
    #[test]
    fn parse_bytes_classifies_as_parse() {
        let mut names: Vec<String> = Vec::new();
        for (canon, _) in KNOWN {
            names.extend([canon.to_string(), canon.to_ascii_lowercase(), canon.to_ascii_uppercase()]);
            // The same length, one byte off.
            let mut off = canon.to_string().into_bytes();
            off[0] = if off[0] == b'x' { b'y' } else { b'x' };
            names.push(String::from_utf8(off).unwrap());
        }
        for c in b'a'..=b'z' {
            names.push(char::from(c).to_string());
            names.push(char::from(c).to_ascii_uppercase().to_string());
        }
        for len in 0..40 {
            names.push("q".repeat(len));
        }
        names.extend(["X-Custom".into(), "P-Unknown-Header".into(), "InReplyTo-Contribution-Id".into()]);
        for n in &names {
            assert_eq!(HeaderName::parse_bytes(n.as_bytes()), HeaderName::parse(n), "{n}");
        }
        // Every known name is found by its canonical spelling.
        for (canon, known) in KNOWN {
            assert_eq!(&HeaderName::parse_bytes(canon.as_bytes()), known);
            assert_eq!(known.canonical(), *canon);
        }
    }
}
