//! The content checksum of a set of rows, defined over a canonical row
//! encoding so that every engine computes the same value for the same
//! rows: a partition's checksum on SQLite and on PostgreSQL agree, and a
//! manifest's checksum means the same wherever it was measured.
//!
//! Each value is written as text with its stored type:
//!
//! | value    | canonical text                                        |
//! |----------|-------------------------------------------------------|
//! | null     | `N`                                                   |
//! | integer  | `I` and its 64 bits, 16 lower-case hex digits         |
//! | boolean  | as the integer 0 or 1                                  |
//! | float    | `R` and its IEEE 754 bits, 16 lower-case hex digits   |
//! | text     | `T`, its length in bytes, `:`, its UTF-8 bytes        |
//! | bytes    | `B`, its length in bytes, `:`, its bytes              |
//!
//! A row is the concatenation of its values' texts in column order; its
//! hash is SHA-256 of that. The checksum is the sum, modulo 2^64, of each
//! row's first 8 hash bytes read as a big-endian number, followed by the
//! same sum of the next 8 bytes: 32 hex digits. A sum does not depend on
//! row order, so the same rows in any order give the same checksum.
//! Dates, months and timestamps are encoded as their canonical text
//! (`2026-06-15`, `2026-06`, `2026-06-15 08:30:00` in UTC), the form SQLite
//! stores and every engine computes on, whatever type stores them
//! (PostgreSQL's data tables keep `date` and `timestamptz`).

use sha2::{Digest, Sha256};

/// One value of a row, as the canonical encoding reads it.
#[derive(Debug, Clone, Copy)]
pub enum Canonical<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
    Bytes(&'a [u8]),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `x` as 16 lower-case hex digits (`{x:016x}`).
pub fn push_hex(out: &mut String, x: u64) {
    out.extend(
        (0..16)
            .rev()
            .map(|k| HEX[(x >> (4 * k)) as usize & 15] as char),
    );
}

fn hex_bytes(out: &mut Vec<u8>, x: u64) {
    out.extend((0..16).rev().map(|k| HEX[(x >> (4 * k)) as usize & 15]));
}

/// Appends `n` in decimal digits.
fn decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut n = n;
    loop {
        k -= 1;
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[k..]);
}

/// Appends a value's canonical text. Written out by hand, not with
/// `format!`: it runs for every value of every measured row.
pub fn encode(out: &mut Vec<u8>, v: Canonical<'_>) {
    match v {
        Canonical::Null => out.push(b'N'),
        Canonical::Integer(i) => {
            out.push(b'I');
            hex_bytes(out, i as u64);
        }
        Canonical::Real(f) => {
            out.push(b'R');
            hex_bytes(out, f.to_bits());
        }
        Canonical::Text(t) => {
            out.push(b'T');
            decimal(out, t.len());
            out.push(b':');
            out.extend_from_slice(t);
        }
        Canonical::Bytes(b) => {
            out.push(b'B');
            decimal(out, b.len());
            out.push(b':');
            out.extend_from_slice(b);
        }
    }
}

/// The running sums of a checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums(pub u64, pub u64);

impl Sums {
    /// Adds the row whose canonical text is `row`.
    pub fn add(&mut self, row: &[u8]) {
        let h = Sha256::digest(row);
        let word = |k: usize| u64::from_be_bytes(h[k..k + 8].try_into().expect("8 bytes"));
        self.0 = self.0.wrapping_add(word(0));
        self.1 = self.1.wrapping_add(word(8));
    }

    pub fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.0, self.1)
    }
}

/// `stable_id(..)`: the first 8 bytes of SHA-256 over its arguments'
/// canonical texts (the same encoding as a checksum's row), as 16
/// lower-case hex digits; the same on every engine.
pub fn stable_id<'a>(values: impl IntoIterator<Item = Canonical<'a>>) -> String {
    stable_id_in(&mut Vec::new(), values)
}

/// [`stable_id`], its canonical text written into `scratch` (cleared
/// first), so a caller running once per row reuses one buffer.
pub fn stable_id_in<'a>(
    scratch: &mut Vec<u8>,
    values: impl IntoIterator<Item = Canonical<'a>>,
) -> String {
    scratch.clear();
    for v in values {
        encode(scratch, v);
    }
    let h = Sha256::digest(&scratch);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    // One call per staged row: no formatting machinery.
    let mut out = String::with_capacity(16);
    push_hex(&mut out, u64::from_be_bytes(first));
    out
}

/// [`stable_id`] in PostgreSQL's SQL, over `args` (SQL expressions).
pub fn postgres_stable_id(args: &[String]) -> String {
    // The 8 bytes kept, then in hex: the same 16 digits as the whole
    // hash's hex cut to 16, without writing the other 48 for each row.
    format!("encode(substr({}, 1, 8), 'hex')", postgres_row_hash(args))
}

/// A row's hash in PostgreSQL's SQL: SHA-256 of its canonical text, each
/// of `columns` (SQL expressions) encoded by `_bpl_canon`, which the
/// PostgreSQL engine creates, one overload per stored type.
fn postgres_row_hash(columns: &[String]) -> String {
    let text = columns
        .iter()
        .map(|c| format!("_bpl_canon({c})"))
        .collect::<Vec<_>>()
        .join(" || ");
    let text = if text.is_empty() { "''".into() } else { text };
    format!("sha256(convert_to({text}, 'UTF8'))")
}

/// The checksum aggregate over `hash`, each row's hash: the two sums of
/// its 8-byte halves (as `bigint`s, which `sum` adds exactly), modulo
/// 2^64, in hex.
fn postgres_sums(hash: &str) -> String {
    let half = |from: usize| {
        let sum = format!(
            "coalesce(sum(CAST(CAST(('x' || encode(substr({hash}, {from}, 8), 'hex')) AS bit(64)) AS bigint)), 0)"
        );
        let m = "18446744073709551616";
        let s = format!("((({sum}) % {m} + {m}) % {m})");
        format!(
            "lpad(to_hex(CAST(trunc({s} / 4294967296) AS bigint)), 8, '0') || lpad(to_hex(CAST({s} % 4294967296 AS bigint)), 8, '0')"
        )
    };
    format!("({} || {})", half(1), half(9))
}

/// The checksum aggregate in PostgreSQL's SQL over `columns` (each an SQL
/// expression). It hashes each row once per half: [`postgres_count`]
/// hashes it once.
pub fn postgres(columns: &[String]) -> String {
    postgres_sums(&postgres_row_hash(columns))
}

/// `SELECT count(*), <checksum>{more} FROM {rows}` in PostgreSQL's SQL,
/// each row hashed once, in a subquery the planner keeps (`OFFSET 0`) so
/// the two sums read the same hash.
pub fn postgres_count(columns: &[String], more: &str, rows: &str) -> String {
    format!(
        "SELECT count(*), {}{more} FROM (SELECT *, {} AS _bpl_h FROM {rows} OFFSET 0) AS _bpl_rows",
        postgres_sums("_bpl_h"),
        postgres_row_hash(columns)
    )
}

/// The checksum aggregate in Spark SQL over `columns` (each an SQL
/// expression), written in standard SQL (the Spark engine brings it to
/// Spark's lexical form): each value encoded by its type as `typeof`
/// names it (a type Spark folds when it plans the statement), a float by
/// its IEEE bits (see [`spark_double_bits`]), and the sums of the row hashes'
/// halves kept exact in decimals, then reduced modulo 2^64.
pub fn spark(columns: &[String]) -> String {
    let row = spark_row_hash(columns);
    let half = |from: usize| {
        format!(
            "lpad(lower(conv(CAST(pmod(coalesce(sum(CAST(conv(substr({row}, {from}, 16), 16, 10) AS DECIMAL(20, 0))), 0), \
             CAST('18446744073709551616' AS DECIMAL(21, 0))) AS STRING), 10, 16)), 16, '0')"
        )
    };
    format!("concat({}, {})", half(1), half(17))
}

/// [`stable_id`] in Spark SQL, over `args` (SQL expressions).
pub fn spark_stable_id(args: &[String]) -> String {
    format!("substr({}, 1, 16)", spark_row_hash(args))
}

/// A row's hash in Spark SQL, as lower-case hex: SHA-256 of its canonical
/// text, each of `columns` (SQL expressions) encoded by its type as
/// `typeof` names it.
fn spark_row_hash(columns: &[String]) -> String {
    let canon = |c: &String| {
        let hex16 = |x: String| format!("lpad(lower(hex({x})), 16, '0')");
        format!(
            "CASE WHEN {c} IS NULL THEN 'N' \
             WHEN typeof({c}) IN ('bigint', 'int', 'smallint', 'tinyint', 'boolean') THEN concat('I', {int}) \
             WHEN typeof({c}) IN ('double', 'float') OR typeof({c}) LIKE 'decimal%' THEN concat('R', {real}) \
             ELSE concat('T', octet_length(CAST({c} AS STRING)), ':', CAST({c} AS STRING)) END",
            int = hex16(format!("CAST({c} AS BIGINT)")),
            real = hex16(spark_double_bits(&format!("CAST({c} AS DOUBLE)"))),
        )
    };
    let text = if columns.is_empty() {
        "''".to_string()
    } else {
        format!(
            "concat({})",
            columns.iter().map(canon).collect::<Vec<_>>().join(", ")
        )
    };
    format!("sha2({text}, 256)")
}

/// The IEEE 754 bits of a Spark `double` as a `bigint`, read from its
/// exact hexadecimal form (`format_string('%a', x)`: `-0x1.8p1`,
/// `0x0.0000000000001p-1022` for a subnormal): the sign, the exponent
/// biased by 1023 (0 for a subnormal), and the 52 bits of the fraction.
/// Spark has no function giving the bits that it lets an aggregate call
/// (`java_method` is not deterministic to it).
pub fn spark_double_bits(x: &str) -> String {
    let s = format!("format_string('%a', {x})");
    let t = format!("regexp_replace({s}, '^-?0x', '')");
    format!(
        "(CASE WHEN substr({t}, 1, 1) = '1' \
           THEN shiftleft(CAST(regexp_extract({t}, 'p(-?[0-9]+)$', 1) AS BIGINT) + 1023, 52) ELSE CAST(0 AS BIGINT) END \
         + CAST(conv(rpad(regexp_extract({t}, '[.]([0-9a-f]*)p', 1), 13, '0'), 16, 10) AS BIGINT) \
         + CASE WHEN {s} LIKE '-%' THEN shiftleft(CAST(1 AS BIGINT), 63) ELSE CAST(0 AS BIGINT) END)"
    )
}

/// `_bpl_canon`, the canonical text of one value, for each type the
/// PostgreSQL engine stores or reads. Each body is one expression of
/// functions no more volatile than the function is declared, so the
/// planner inlines it (a call per value would cost more than the hash).
/// Dates and timestamps are encoded as their canonical text, as SQLite
/// stores them.
pub const POSTGRES_CANON: &str = r#"
CREATE OR REPLACE FUNCTION _bpl_canon(x bigint) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT CASE WHEN x IS NULL THEN 'N' ELSE 'I' || encode(int8send(x), 'hex') END $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x integer) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT _bpl_canon(CAST(x AS bigint)) $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x smallint) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT _bpl_canon(CAST(x AS bigint)) $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x boolean) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT _bpl_canon(CAST(CAST(x AS integer) AS bigint)) $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x double precision) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT CASE WHEN x IS NULL THEN 'N' ELSE 'R' || encode(float8send(x), 'hex') END $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x real) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT _bpl_canon(CAST(x AS double precision)) $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x numeric) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT _bpl_canon(CAST(x AS double precision)) $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x text) RETURNS text LANGUAGE sql IMMUTABLE AS
$f$ SELECT CASE WHEN x IS NULL THEN 'N' ELSE 'T' || CAST(octet_length(x) AS text) || ':' || x END $f$;
-- A date's or timestamp's text has a known length in years 1 to 9999, so
-- it is written once (`_bpl_canon(text)` inlined would write it three
-- times: for the null test, its length and itself), and there by the
-- type's own output (ISO in bplc's sessions, DateStyle), twice as fast as
-- `to_char`: the same text, a fraction of a second cut off as `to_char`
-- leaves it out.
CREATE OR REPLACE FUNCTION _bpl_canon(x date) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x IS NULL THEN 'N'
  WHEN x >= '0001-01-01' AND x < '10000-01-01' THEN 'T10:' || CAST(x AS text)
  ELSE _bpl_canon(to_char(x, 'YYYY-MM-DD')) END $f$;
CREATE OR REPLACE FUNCTION _bpl_canon(x timestamptz) RETURNS text LANGUAGE sql STABLE AS
$f$ SELECT CASE WHEN x IS NULL THEN 'N'
  WHEN x >= '0001-01-01 00:00:00+00' AND x < '10000-01-01 00:00:00+00'
  THEN 'T19:' || substr(CAST(x AT TIME ZONE 'UTC' AS text), 1, 19)
  ELSE _bpl_canon(to_char(x AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) END $f$;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_types_and_boundaries_apart() {
        let text = |vs: &[Canonical<'_>]| {
            let mut out = Vec::new();
            for v in vs {
                encode(&mut out, *v);
            }
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            text(&[
                Canonical::Integer(1),
                Canonical::Text(b"1"),
                Canonical::Null
            ]),
            "I0000000000000001T1:1N"
        );
        assert_eq!(text(&[Canonical::Real(1.0)]), "R3ff0000000000000");
        assert_ne!(
            text(&[Canonical::Text(b"ab"), Canonical::Text(b"c")]),
            text(&[Canonical::Text(b"a"), Canonical::Text(b"bc")])
        );
        assert_eq!(text(&[Canonical::Integer(-1)]), "Iffffffffffffffff");
        // The hand-written digits say what `format!` says.
        for (i, t) in [
            (0x0123_4567_89ab_cdef_i64, &b""[..]),
            (7, &[b'x'; 1234][..]),
        ] {
            assert_eq!(
                text(&[
                    Canonical::Integer(i),
                    Canonical::Text(t),
                    Canonical::Bytes(t)
                ]),
                format!(
                    "I{:016x}T{}:{}B{}:{}",
                    i as u64,
                    t.len(),
                    String::from_utf8_lossy(t),
                    t.len(),
                    String::from_utf8_lossy(t)
                )
            );
        }
        let mut hex = String::new();
        push_hex(&mut hex, 0xfedc_ba98_7654_3210);
        assert_eq!(hex, format!("{:016x}", 0xfedc_ba98_7654_3210_u64));
    }

    #[test]
    fn stable_ids_hash_the_canonical_encoding() {
        let id = stable_id([Canonical::Text(b"orders"), Canonical::Integer(1)]);
        assert_eq!(id.len(), 16);
        let mut row = Vec::new();
        encode(&mut row, Canonical::Text(b"orders"));
        encode(&mut row, Canonical::Integer(1));
        assert_eq!(id, format!("{:x}", Sha256::digest(&row))[..16]);
        assert_ne!(
            id,
            stable_id([Canonical::Text(b"orders"), Canonical::Text(b"1")])
        );
    }

    #[test]
    fn sums_ignore_row_order() {
        let (mut a, mut b) = (Sums::default(), Sums::default());
        for r in [&b"x"[..], b"y", b"z"] {
            a.add(r);
        }
        for r in [&b"z"[..], b"x", b"y"] {
            b.add(r);
        }
        assert_eq!(a, b);
        assert_eq!(Sums::default().hex(), "0".repeat(32));
    }
}
