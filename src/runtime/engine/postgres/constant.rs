//! Gates that read only what the run measured need no server. With its
//! counters written in, `input == accepted + quarantined + duplicates` is
//! `SELECT (10990 = ((10716 + 104) + 170)) FROM (SELECT 1) AS counters`: a
//! round trip per partition and gate (a millisecond each on a busy
//! machine) for arithmetic on a handful of integers. Such a statement is
//! answered here, exactly as PostgreSQL answers it: only integer literals,
//! `+`, `-`, `*`, parentheses and comparisons are taken, and only while
//! every literal and every intermediate value fits in an `integer` (where
//! PostgreSQL's `integer` arithmetic gives the same value, and its
//! overflow error cannot arise). Anything else — a wider number, a
//! division, a function, a null, a table — goes to the server as before.

use crate::runtime::engine::Value;

/// The answer of `sql` if it is such a constant statement: its one value
/// (a comparison as 0 or 1, as a boolean column reads).
pub fn evaluate(sql: &str) -> Option<Value> {
    let rest = sql.trim().strip_prefix("SELECT ")?;
    let expr = rest
        .strip_suffix(" FROM (SELECT 1) AS counters")
        .unwrap_or(rest);
    let tokens = tokens(expr)?;
    let mut p = Parser { tokens, at: 0 };
    let v = p.comparison()?;
    (p.at == p.tokens.len()).then_some(Value::Integer(v.value))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(i64),
    Op(&'static str),
    Open,
    Close,
}

fn tokens(s: &str) -> Option<Vec<Token>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                // `1.5`, `1e3`, `1x`: not an integer literal.
                if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                    return None;
                }
                out.push(Token::Number(fits(s[start..i].parse().ok()?)?));
            }
            _ => {
                let op = ["<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*"]
                    .into_iter()
                    .find(|op| s[i..].starts_with(op))?;
                // `--` starts a comment, `->`, `<<`, `>>`, `**` are other
                // operators: PostgreSQL reads a run of operator characters
                // as one.
                let next = b.get(i + op.len()).copied().unwrap_or(b' ');
                if b"+-*/<>=~!@#%^&|`?".contains(&next) {
                    return None;
                }
                out.push(Token::Op(op));
                i += op.len();
            }
        }
    }
    Some(out)
}

/// `x` if it fits in PostgreSQL's `integer`.
fn fits(x: i64) -> Option<i64> {
    i32::try_from(x).ok().map(i64::from)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

/// A value and whether it is a comparison's boolean, which PostgreSQL
/// neither adds nor compares with an integer (an error there).
#[derive(Clone, Copy)]
struct Typed {
    value: i64,
    boolean: bool,
}

fn integer(t: Typed) -> Option<i64> {
    (!t.boolean).then_some(t.value)
}

fn int(value: i64) -> Option<Typed> {
    Some(Typed {
        value: fits(value)?,
        boolean: false,
    })
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    fn op(&mut self, ops: &[&str]) -> Option<&'static str> {
        match self.peek() {
            Some(Token::Op(o)) if ops.contains(&o) => {
                self.at += 1;
                Some(o)
            }
            _ => None,
        }
    }

    /// At most one comparison, of two integers, unparenthesised (`a = b =
    /// c` is an error in PostgreSQL).
    fn comparison(&mut self) -> Option<Typed> {
        let a = self.sum()?;
        let Some(op) = self.op(&["=", "<>", "!=", "<", ">", "<=", ">="]) else {
            return Some(a);
        };
        let (a, b) = (integer(a)?, integer(self.sum()?)?);
        if matches!(self.peek(), Some(Token::Op(_))) {
            return None;
        }
        let holds = match op {
            "=" => a == b,
            "<>" | "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "<=" => a <= b,
            _ => a >= b,
        };
        Some(Typed {
            value: i64::from(holds),
            boolean: true,
        })
    }

    fn sum(&mut self) -> Option<Typed> {
        let mut a = self.product()?;
        while let Some(op) = self.op(&["+", "-"]) {
            let (x, y) = (integer(a)?, integer(self.product()?)?);
            a = int(if op == "+" { x + y } else { x - y })?;
        }
        Some(a)
    }

    fn product(&mut self) -> Option<Typed> {
        let mut a = self.unary()?;
        while self.op(&["*"]).is_some() {
            let (x, y) = (integer(a)?, integer(self.unary()?)?);
            a = int(x.checked_mul(y)?)?;
        }
        Some(a)
    }

    fn unary(&mut self) -> Option<Typed> {
        if self.op(&["-"]).is_some() {
            return int(-integer(self.unary()?)?);
        }
        if self.op(&["+"]).is_some() {
            return int(integer(self.unary()?)?);
        }
        match self.peek()? {
            Token::Number(n) => {
                self.at += 1;
                int(n)
            }
            Token::Open => {
                self.at += 1;
                let v = self.comparison()?;
                (self.peek()? == Token::Close).then(|| self.at += 1)?;
                Some(v)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(sql: &str) -> Option<i64> {
        match evaluate(sql) {
            Some(Value::Integer(n)) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn a_counter_gate_is_answered_as_postgresql_answers_it() {
        let gate = |a: i64, b: i64, c: i64, d: i64| {
            answer(&format!(
                "SELECT ({a} = (({b} + {c}) + {d})) FROM (SELECT 1) AS counters"
            ))
        };
        assert_eq!(gate(10990, 10716, 104, 170), Some(1));
        assert_eq!(gate(10989, 10716, 104, 170), Some(0));
        assert_eq!(answer("SELECT 7"), Some(7));
        assert_eq!(answer("SELECT (3 - 5) * -2"), Some(4));
        assert_eq!(answer("SELECT 2 + 3 * 4 >= 14"), Some(1));
        assert_eq!(answer("SELECT (1 < 2)"), Some(1));
        assert_eq!(answer("SELECT 1 <> 1"), Some(0));
    }

    #[test]
    fn anything_else_goes_to_the_server() {
        for sql in [
            // Overflow of `integer` is PostgreSQL's error to give.
            "SELECT 2147483647 + 1",
            "SELECT 65536 * 65536",
            // Wider literals are `bigint` or `numeric` there.
            "SELECT 3000000000 = 3000000000",
            "SELECT 1.5 = 1",
            "SELECT 7 / 2",
            "SELECT NULL = 1",
            // A boolean is not an integer there.
            "SELECT (1 = 1) = (2 = 2)",
            "SELECT (1 = 1) + 1",
            "SELECT -(1 = 1)",
            "SELECT 1 = 1 = 1",
            "SELECT count(*) FROM t",
            "SELECT 1 FROM t",
            "SELECT 1 -- 2",
            "SELECT (1",
            "SELECT 1)",
            "SELECT",
            "SELECT 1e3",
            "SELECT 1 ++ 2",
            "DELETE FROM t",
        ] {
            assert_eq!(evaluate(sql), None, "{sql}");
        }
    }
}
