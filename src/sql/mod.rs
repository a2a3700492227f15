//! SQL for every engine. A job plan becomes the statements one engine runs:
//! what every dialect shares — expression printing ([`expr`]), the job's
//! lowering and gate queries ([`lower`]), range staging ([`range`]), the
//! typed boundary ([`boundary`]), diffs ([`diff`]) — is written once here,
//! and asks a [`dialect::Dialect`] (each engine supplies its own) for what
//! differs. Values are stored in one convention across the warehouse (see
//! [`types`]), so every dialect and the demo data agree.

pub mod boundary;
pub mod checksum;
pub mod counted;
pub mod dialect;
pub mod diff;
pub mod expr;
pub mod gates;
pub mod lower;
pub mod range;
pub mod types;
