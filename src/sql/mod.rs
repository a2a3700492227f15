//! SQL dialects. A job plan becomes the statements one engine runs; SQLite
//! is the first dialect. Values are stored in one convention across the
//! warehouse (see [`types`]), so every dialect and the demo data agree.

pub mod boundary;
pub mod diff;
pub mod expr;
pub mod range;
pub mod sqlite;
pub mod types;
