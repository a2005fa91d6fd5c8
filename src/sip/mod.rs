//! Byte-faithful SIP message layer (RFC 3261 §7, §18; RFC 3840/3841 parameters).
//!
//! A [`Message`] is the original bytes plus byte ranges ([`Span`]s) of the start line, every
//! header field and the body. Nothing is ever re-serialised: a rewrite is a list of [`Edit`]s
//! applied in one pass that copies every untouched byte verbatim. This module knows nothing of
//! Appendix T.

pub mod edit;
pub mod error;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod params;
pub mod span;
pub mod status;
pub mod uri;

pub use edit::{Edit, apply_edits};
pub use error::{ParseError, ParseErrorKind};
pub use framing::{FramingError, StreamFrame, check_stream, frame_datagram};
pub use header::{Header, HeaderName};
pub use message::{Message, StartLine};
pub use method::Method;
pub use params::{Param, ParamList, split_list};
pub use span::{Span, lossy};
pub use status::{Class, StatusCode};
pub use uri::{NameAddr, SipUri};
