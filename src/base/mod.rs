//! The ground floor: the few types every layer shares, importing nothing else of this crate.
//!
//! - [`time`]: [`Instant`], time as an input (only the drivers read a clock);
//! - [`wire`]: [`Transport`], [`Packet`] (one SIP message on the wire) and [`Trace`] (timestamped
//!   packets, what every driver produces and the oracle judges);
//! - [`domain`]: the Appendix T vocabulary: [`Level`], [`ClientKind`], [`SessionCase`],
//!   [`Role`], [`Service`], [`Direction`];
//! - [`ids`]: [`IdGen`], seeded identifiers (the server, the focus and the world all draw from it).
//!
//! Each concept is declared once, here, and derives what the edges need (serde for files and
//! reports, `clap::ValueEnum` for the command line).

pub mod domain;
pub mod ids;
pub mod time;
pub mod wire;

pub use domain::{ClientKind, Direction, Level, Role, Service, SessionCase};
pub use ids::IdGen;
pub use time::Instant;
pub use wire::{Packet, Trace, Traced, Transport};
