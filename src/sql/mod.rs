//! SQL dialects.
