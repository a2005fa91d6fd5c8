//! SIP status codes (RFC 3261 §21) as one type: named constants with their reason phrases, the
//! class of a code, and any other three-digit code kept as it was read (an open wire enum).

use std::fmt;

/// A SIP status code. Any value read from the wire is kept; the named constants are the ones
/// this crate sends or judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

macro_rules! status_codes {
    ($( $name:ident = $code:literal, $reason:literal; )*) => {
        impl StatusCode {
            $(
                #[doc = concat!("`", stringify!($code), " ", $reason, "`")]
                pub const $name: StatusCode = StatusCode($code);
            )*

            /// The RFC 3261 reason phrase of a known code (`""` for others).
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "",
                }
            }
        }
    };
}

status_codes! {
    TRYING = 100, "Trying";
    RINGING = 180, "Ringing";
    OK = 200, "OK";
    ACCEPTED = 202, "Accepted";
    BAD_REQUEST = 400, "Bad Request";
    FORBIDDEN = 403, "Forbidden";
    NOT_FOUND = 404, "Not Found";
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    REQUEST_TIMEOUT = 408, "Request Timeout";
    UNSUPPORTED_URI_SCHEME = 416, "Unsupported URI Scheme";
    BAD_EXTENSION = 420, "Bad Extension";
    TEMPORARILY_UNAVAILABLE = 480, "Temporarily Unavailable";
    CALL_DOES_NOT_EXIST = 481, "Call/Transaction Does Not Exist";
    LOOP_DETECTED = 482, "Loop Detected";
    TOO_MANY_HOPS = 483, "Too Many Hops";
    BUSY_HERE = 486, "Busy Here";
    REQUEST_TERMINATED = 487, "Request Terminated";
    NOT_ACCEPTABLE_HERE = 488, "Not Acceptable Here";
    SERVER_INTERNAL_ERROR = 500, "Server Internal Error";
    NOT_IMPLEMENTED = 501, "Not Implemented";
    SERVICE_UNAVAILABLE = 503, "Service Unavailable";
    VERSION_NOT_SUPPORTED = 505, "Version Not Supported";
}

/// The class of a status code, as the transaction layer sees it (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// 1xx.
    Provisional,
    /// 2xx.
    Success,
    /// 3xx to 6xx.
    Failure,
}

impl StatusCode {
    /// The class.
    pub fn class(self) -> Class {
        match self.0 {
            ..200 => Class::Provisional,
            200..300 => Class::Success,
            _ => Class::Failure,
        }
    }
    /// A code as read or given (RFC 3261 allows 100 to 699; the parser enforces three digits).
    pub const fn new(code: u16) -> StatusCode {
        StatusCode(code)
    }
    /// The number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }
    /// 1xx.
    pub fn is_provisional(self) -> bool {
        self.0 < 200
    }
    /// 2xx.
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }
    /// 200 and above.
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }
    /// 4xx, 5xx or 6xx.
    pub fn is_error(self) -> bool {
        self.0 >= 400
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl serde::Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for StatusCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StatusCode, D::Error> {
        let n = u64::deserialize(d)?;
        match u16::try_from(n) {
            Ok(c) if (100..=699).contains(&c) => Ok(StatusCode(c)),
            _ => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(n),
                &"a SIP status code from 100 to 699",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_reasons() {
        assert_eq!(StatusCode::TOO_MANY_HOPS.reason(), "Too Many Hops");
        assert!(StatusCode::TRYING.is_provisional() && !StatusCode::TRYING.is_final());
        assert!(StatusCode::ACCEPTED.is_success());
        assert!(StatusCode::new(699).is_error());
        assert_eq!(StatusCode::new(299).reason(), "");
    }
}
