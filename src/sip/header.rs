//! Header names (an open enum with RFC 3261 compact forms) and header fields as spans.

use crate::sip::span::Span;

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

            /// Classify a header name given as bytes (a token, so ASCII).
            pub fn parse_bytes(name: &[u8]) -> HeaderName {
                if name.len() == 1 {
                    let c = name[0].to_ascii_lowercase();
                    $( $( if c == $c { return HeaderName::$var; } )? )*
                }
                $( if name.eq_ignore_ascii_case($canon.as_bytes()) { return HeaderName::$var; } )*
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
