//! `bpl_staged_row`: the stable row id the staging `INSERT` writes, and
//! each partition's row count, checksum and size taken from the same
//! call, so a staged partition is not read back to be measured.
//!
//! The checksum is of the rows as stored, and a column's type affinity may
//! change a value on its way into the table (an integer written to a text
//! column is stored as its text, a whole float in an integer column as an
//! integer). Each value is taken as the column will give it back: the
//! conversions SQLite makes are applied here the way SQLite makes them
//! (`applyAffinity`, and `OP_RealAffinity` when a float column is read).
//! The two that need SQLite's own number parsing or printing (text that
//! may read as a number in a numeric column, a float in a text column)
//! are not reproduced: a partition with such a value is measured by
//! reading its rows back, as before.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::sql::checksum::{encode, stable_id_in, Canonical, Sums};

/// The bound parameter giving the data table's columns' affinities, one
/// letter per output column (see [`affinity`]).
pub const ROW_TYPES: &str = ":bpl_row_types";

/// What the staging `INSERT` wrote into one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub rows: i64,
    pub sums: Sums,
    /// The size the checksum statement gives: the bytes of each text
    /// column's values, 8 for every other non-null value.
    pub bytes: i64,
    /// A value was met whose stored form is not computed here: the
    /// partition is measured by reading it back.
    pub unmeasured: bool,
}

/// The per-partition measurements of one connection's staging statement.
#[derive(Clone, Default)]
pub struct Inserted(Arc<Mutex<Vec<Written>>>);

/// The affinity letter of a declared column type, by SQLite's rules
/// (section 3.1 of its datatype documentation): `I` integer, `T` text,
/// `B` none, `R` real, `N` numeric.
pub fn affinity(declared: &str) -> char {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        'I'
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|x| t.contains(x)) {
        'T'
    } else if t.is_empty() || t.contains("BLOB") {
        'B'
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|x| t.contains(x)) {
        'R'
    } else {
        'N'
    }
}

/// The layout constant of a `bpl_staged_row` call: the stable id's key
/// columns by position, then a letter per column, `T` when its size is
/// its bytes (text) and `N` when it is 8 per value.
pub fn layout(key_columns: &[usize], text: &[bool]) -> String {
    let keys = key_columns
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let sizes: String = text.iter().map(|&t| if t { 'T' } else { 'N' }).collect();
    format!("{keys}|{sizes}")
}

struct Layout {
    keys: Vec<usize>,
    text: Vec<bool>,
}

fn parse_layout(s: &str) -> Layout {
    let (keys, sizes) = s.split_once('|').unwrap_or(("", s));
    Layout {
        keys: keys.split(',').filter_map(|k| k.parse().ok()).collect(),
        text: sizes.chars().map(|c| c == 'T').collect(),
    }
}

/// `real` as SQLite's `sqlite3VdbeIntegerAffinity` leaves it: an integer
/// when the round trip real -> integer -> real is exact and the integer is
/// neither the smallest nor the largest one.
fn integer_affinity(real: f64) -> Option<i64> {
    let ix = if real < -9223372036854774784.0 {
        i64::MIN
    } else if real > 9223372036854774784.0 {
        i64::MAX
    } else {
        real as i64
    };
    (real == ix as f64 && ix > i64::MIN && ix < i64::MAX).then_some(ix)
}

/// A value as a column of affinity `aff` stores and gives it back, its
/// canonical text appended to `row`; its size (see [`Written::bytes`])
/// returned, or `None` when its stored form is not computed here.
fn push_stored(row: &mut Vec<u8>, aff: u8, text_sized: bool, v: ValueRef<'_>) -> Option<i64> {
    let numeric = matches!(aff, b'I' | b'N' | b'R');
    let (value, size) = match v {
        ValueRef::Null => {
            encode(row, Canonical::Null);
            return Some(0);
        }
        ValueRef::Blob(b) => (Canonical::Bytes(b), if text_sized { b.len() } else { 8 }),
        ValueRef::Text(t) => {
            // Text that may read as a number is converted by a numeric
            // column (SQLite's `sqlite3AtoF`): a number has a digit.
            if numeric && t.iter().any(u8::is_ascii_digit) {
                return None;
            }
            (Canonical::Text(t), if text_sized { t.len() } else { 8 })
        }
        ValueRef::Integer(i) => match aff {
            b'T' => {
                let text = i.to_string();
                encode(row, Canonical::Text(text.as_bytes()));
                return Some(if text_sized { text.len() as i64 } else { 8 });
            }
            b'R' => (Canonical::Real(i as f64), 8),
            _ => (Canonical::Integer(i), 8),
        },
        ValueRef::Real(f) => match aff {
            b'T' => return None,
            b'I' | b'N' => match integer_affinity(f) {
                Some(i) => (Canonical::Integer(i), 8),
                None => (Canonical::Real(f), 8),
            },
            // Stored as an integer when whole, read back as a float.
            b'R' => (
                Canonical::Real(integer_affinity(f).map_or(f, |i| i as f64)),
                8,
            ),
            _ => (Canonical::Real(f), 8),
        },
    };
    if text_sized && matches!(value, Canonical::Integer(_) | Canonical::Real(_)) {
        // `octet_length` of a number is the length of its text.
        return None;
    }
    encode(row, value);
    Some(size as i64)
}

impl Inserted {
    /// Registers `bpl_staged_row(layout, row_types, partition, dataset,
    /// version, column..)`, which returns the row's stable id
    /// (`stable_id(dataset, version, key..)`) and measures the row into its
    /// partition's [`Written`].
    pub fn register(&self, conn: &Connection) -> rusqlite::Result<()> {
        let state = self.0.clone();
        // Not deterministic: it must run once for every row written.
        conn.create_scalar_function(
            "bpl_staged_row",
            -1,
            FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let layout = ctx.get_or_create_aux(0, |v| {
                    Ok::<_, rusqlite::Error>(parse_layout(v.as_str().unwrap_or("")))
                })?;
                let mut parts = state.lock().unwrap_or_else(|e| e.into_inner());
                step(&mut parts, &layout, ctx)
            },
        )
    }

    /// Starts measuring a statement over `parts` partitions.
    pub fn reset(&self, parts: usize) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *s = vec![Written::default(); parts];
    }

    /// What was written since the last reset, by the partition's place in
    /// the batch.
    pub fn take(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

const FIRST_COLUMN: usize = 5;

fn canonical(v: ValueRef<'_>) -> Canonical<'_> {
    match v {
        ValueRef::Null => Canonical::Null,
        ValueRef::Integer(n) => Canonical::Integer(n),
        ValueRef::Real(f) => Canonical::Real(f),
        ValueRef::Text(t) => Canonical::Text(t),
        ValueRef::Blob(b) => Canonical::Bytes(b),
    }
}

thread_local! {
    /// The canonical texts of the row being staged (its stable id's, its
    /// checksum's): one pair of buffers reused for every row, not two
    /// allocations a row.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

fn step(parts: &mut [Written], layout: &Layout, ctx: &Context<'_>) -> rusqlite::Result<String> {
    SCRATCH.with(|s| {
        let (id, row) = &mut *s.borrow_mut();
        step_in(parts, layout, ctx, id, row)
    })
}

fn step_in(
    parts: &mut [Written],
    layout: &Layout,
    ctx: &Context<'_>,
    id_text: &mut Vec<u8>,
    row: &mut Vec<u8>,
) -> rusqlite::Result<String> {
    let no = match ctx.get_raw(2) {
        ValueRef::Integer(n) => n,
        _ => -1,
    };
    let Some(w) = usize::try_from(no).ok().and_then(|k| parts.get_mut(k)) else {
        return Err(rusqlite::Error::UserFunctionError(
            format!("bpl_staged_row: no partition {no} in the batch").into(),
        ));
    };
    let columns = ctx.len().saturating_sub(FIRST_COLUMN);
    // The id as `stable_id` computes it, over the values as selected.
    let id = stable_id_in(
        id_text,
        [ctx.get_raw(3), ctx.get_raw(4)]
            .into_iter()
            .chain(
                layout
                    .keys
                    .iter()
                    .filter(|&&k| k < columns)
                    .map(|&k| ctx.get_raw(FIRST_COLUMN + k)),
            )
            .map(canonical),
    );
    w.rows += 1;
    if w.unmeasured {
        return Ok(id);
    }
    let types = match ctx.get_raw(1) {
        ValueRef::Text(t) if t.len() == columns && layout.text.len() == columns => t,
        _ => {
            w.unmeasured = true;
            return Ok(id);
        }
    };
    row.clear();
    let mut bytes = 0;
    for (k, (&aff, &text)) in types.iter().zip(&layout.text).enumerate() {
        match push_stored(row, aff, text, ctx.get_raw(FIRST_COLUMN + k)) {
            Some(n) => bytes += n,
            None => {
                w.unmeasured = true;
                return Ok(id);
            }
        }
    }
    w.sums.add(row);
    w.bytes += bytes;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row, in a partition of its own, written through
    /// `bpl_staged_row` into a table of every affinity, measured as it was
    /// written and by the checksum statement over the stored rows: the
    /// same count, checksum and size, or (for the conversions not computed
    /// here) marked unmeasured.
    #[test]
    fn measured_while_written_equals_measured_when_read_back() {
        let conn = Connection::open_in_memory().unwrap();
        crate::runtime::engine::sqlite::functions::register(&conn).unwrap();
        let inserted = Inserted::default();
        inserted.register(&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (no INTEGER, i INTEGER, d INTEGER SCALE(2), r REAL, \
             s TEXT, n NUMERIC, b, id TEXT)",
        )
        .unwrap();
        // (i, d, r, s, n, b), as SQL, and whether measured while written.
        let rows: &[(&str, bool)] = &[
            ("1, 250, 1.5, 'a', 7, x'00ff'", true),
            ("NULL, NULL, NULL, NULL, NULL, NULL", true),
            ("3.0, -0.0, -0.0, '', 2.0, 1.0", true),
            ("3.5, 1e300, 4, 'é€', 2.5, 'text'", true),
            (
                "-9223372036854775808, 9223372036854775807, 9007199254740993, 'x', -1, 0",
                true,
            ),
            (
                "9.3e18, -9223372036854775808.0, 1e16, 'y', 1e15, -0.0",
                true,
            ),
            ("'abc', 'x', 'y', 'z', 'w', 'v'", true),
            ("x'31', x'', 3.25, x'41', x'32', NULL", true),
            ("1, 1, 1, 42, 1, 1", true),
            ("1, 1, 1, -9223372036854775808, 1, 1", true),
            ("' 12 ', 1, 1, 's', 1, 1", false),
            ("1, '1e3', 1, 's', 1, 1", false),
            ("1, 1, '2.5', 's', 1, 1", false),
            ("1, 1, 1, 'ok', '0x10', 1", false),
            ("1, 1, 1, 2.5, 1, 1", false),
        ];
        let values = rows
            .iter()
            .enumerate()
            .map(|(k, (r, _))| format!("({k}, {r})"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = [false, false, false, true, false, false];
        let types: String = ["INTEGER", "INTEGER SCALE(2)", "REAL", "TEXT", "NUMERIC", ""]
            .iter()
            .map(|t| affinity(t))
            .collect();
        inserted.reset(rows.len());
        conn.execute(
            &format!(
                "INSERT INTO t SELECT no, i, d, r, s, n, b, \
                 bpl_staged_row('0|{}', :types, no, 'ds', 1, i, d, r, s, n, b) \
                 FROM (SELECT column1 AS no, column2 AS i, column3 AS d, column4 AS r, \
                 column5 AS s, column6 AS n, column7 AS b FROM (VALUES {values}))",
                layout(&[0], &text).split_once('|').unwrap().1
            ),
            rusqlite::named_params! {":types": types},
        )
        .unwrap();
        let written = inserted.take();
        for (k, (row, measured)) in rows.iter().enumerate() {
            let (n, checksum, bytes, id): (i64, String, i64, String) = conn
                .query_row(
                    "SELECT count(*), bpl_checksum(i, d, r, s, n, b), \
                     coalesce(sum(octet_length(s)), 0) + 8 * count(i) + 8 * count(d) \
                     + 8 * count(r) + 8 * count(n) + 8 * count(b), max(id) FROM t WHERE no = ?1",
                    [k as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            let w = &written[k];
            assert_eq!(w.rows, n, "row {row}");
            assert_eq!(w.unmeasured, !measured, "row {row}");
            if *measured {
                assert_eq!(w.sums.hex(), checksum, "row {row}");
                assert_eq!(w.bytes, bytes, "row {row}");
            }
            // The id is `stable_id` of the values as selected.
            let expected: String = conn
                .query_row(
                    &format!(
                        "SELECT bpl_stable_id('ds', 1, i) FROM (SELECT {} AS i)",
                        row.split(", ").next().unwrap()
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(id, expected, "row {row}");
        }
    }

    #[test]
    fn affinity_follows_sqlite_rules() {
        for (declared, aff) in [
            ("INTEGER", 'I'),
            ("INTEGER SCALE(2)", 'I'),
            ("BIGINT", 'I'),
            ("TEXT", 'T'),
            ("VARCHAR(10)", 'T'),
            ("", 'B'),
            ("BLOB", 'B'),
            ("REAL", 'R'),
            ("DOUBLE", 'R'),
            ("DECIMAL(10,5)", 'N'),
            ("NUMERIC", 'N'),
        ] {
            assert_eq!(affinity(declared), aff, "{declared}");
        }
    }

    #[test]
    fn integer_affinity_is_exact_and_bounded() {
        assert_eq!(integer_affinity(3.0), Some(3));
        assert_eq!(integer_affinity(-0.0), Some(0));
        assert_eq!(integer_affinity(3.5), None);
        assert_eq!(integer_affinity(9.3e18), None);
        assert_eq!(integer_affinity(-9223372036854775808.0), None);
        assert_eq!(integer_affinity(1e300), None);
    }
}
