//! The prelude: `stdlib/*.bpl`, embedded in the binary and loaded before the
//! user's files.

pub const FILES: &[(&str, &str)] = &[
    ("functions.bpl", include_str!("../../stdlib/functions.bpl")),
    ("checks.bpl", include_str!("../../stdlib/checks.bpl")),
    ("calendar.bpl", include_str!("../../stdlib/calendar.bpl")),
];
