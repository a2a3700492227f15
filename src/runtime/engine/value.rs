//! The values an engine hands the runtime and binds into statements: its
//! own type, so no engine's driver type appears in the [`super::Engine`]
//! trait.

/// A value a statement reads or binds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A value of a row to write, borrowed from the writer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
}

impl Value {
    /// The value as JSON, for manifests and gate details.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Integer(i) => (*i).into(),
            Value::Real(f) => (*f).into(),
            Value::Text(t) => t.clone().into(),
            Value::Blob(b) => format!("<{} bytes>", b.len()).into(),
        }
    }

    /// A value recorded as JSON (a high-water mark), to bind again.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Integer(*b as i64),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Real(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Text(s.clone()),
            other => Value::Text(other.to_string()),
        }
    }

    /// A gate's outcome: `None` when it has no truth value.
    pub fn truthy(&self) -> Option<bool> {
        match self {
            Value::Integer(i) => Some(*i != 0),
            Value::Real(f) => Some(*f != 0.0),
            _ => None,
        }
    }

    /// The value as a number, for reconciliations.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Real(f) => Some(*f),
            _ => None,
        }
    }
}

/// A `:` at byte `i` of `sql`, for a server engine that writes its
/// statements' `:name` parameters in as literals: `::` (a cast) is kept;
/// a `:name` is written to `out` as its value's literal (NULL when
/// `values` does not name it, as an unbound parameter is), after the text
/// from `start`, which then moves past the name. The index to go on from.
#[cfg(any(feature = "postgres", feature = "spark"))]
pub fn parameter_at(
    sql: &str,
    i: usize,
    out: &mut String,
    start: &mut usize,
    values: &[(String, Value)],
    literal: impl Fn(&Value) -> String,
) -> usize {
    let b = sql.as_bytes();
    match b.get(i + 1) {
        Some(b':') => i + 2,
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
            let mut end = i + 1;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            let name = &sql[i..end];
            out.push_str(&sql[*start..i]);
            match values.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(&literal(v)),
                None => out.push_str("NULL"),
            }
            *start = end;
            end
        }
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn a_locked_high_water_mark_binds_as_it_was_read() {
        for v in [
            Value::Null,
            Value::Integer(-7),
            Value::Real(2.5),
            Value::Text("2026-06-15 08:30:00".into()),
        ] {
            assert_eq!(Value::from_json(&v.to_json()), v);
        }
        // A boolean in JSON is SQL's 1 or 0.
        assert_eq!(Value::from_json(&true.into()), Value::Integer(1));
    }

    #[test]
    fn gates_read_numbers_and_truth_only_from_numbers() {
        assert_eq!(Value::Integer(0).truthy(), Some(false));
        assert_eq!(Value::Real(0.5).truthy(), Some(true));
        assert_eq!(Value::Null.truthy(), None);
        assert_eq!(Value::Text("1".into()).number(), None);
        assert_eq!(Value::Integer(3).number(), Some(3.0));
    }
}
