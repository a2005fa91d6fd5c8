//! Appendix T as data and functions: Table 1 ([`table`]), the requirement catalogue
//! ([`rules`]), the service classifier ([`classify`](mod@classify)), the reference rewrite ([`interwork`]) and
//! the oracle ([`verify`]). Knows nothing of sockets.

pub mod bodies;
pub mod classify;
pub mod finding;
pub mod interwork;
pub mod registration;
pub mod rules;
pub mod table;
pub mod verify;
pub mod wellformed;

pub use classify::{Form, classify, form_of};
pub use finding::{Cause, Finding, Location, Verdict};
pub use interwork::{Ids, RewriteOptions, rewrite};
pub use rules::{Grade, Rule, catalogue, rule};
pub use table::TABLE_1;
