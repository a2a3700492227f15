//! The plan document `plan-backfill` prints and `backfill --plan` reads:
//! one entry per dataset with its actions and their ranges, warnings with
//! codes, and a version a CI job can rely on. Its JSON Schema is
//! `schemas/plan.schema.json`; book/src/cli/plan-backfill.md documents it.
//! Text and JSON use the same action names.

use serde::Serialize;

use crate::diagnostic::codes::Code;
use crate::semantic::hir::{Decl, Grain, PartitionKind};
use crate::syntax::ast::DeclKind;

/// The version of the plan document. Bumped when a field is removed or
/// changes meaning; new fields may appear without a bump.
pub const PLAN_VERSION: u32 = 1;

/// What a backfill writes: one mode for planning it and running it, and
/// the name a saved plan carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Compute and validate; keep nothing but the report.
    DryRun,
    /// Write shadow versions beside the published ones.
    Shadow,
    /// Shadow, then compare each partition with what is published.
    CompareOnly,
    /// Publish over open partitions; closed ones are refused.
    Replace,
    /// Publish open partitions, restate closed ones with the reason.
    Restatement,
    /// Rebuild each dataset's storage in its declared schema, then publish
    /// open partitions as `replace` does.
    Migration,
}

/// What a backfill does with some partitions of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Recompute and publish over the current version.
    #[serde(rename = "replace")]
    Replace,
    /// Closed: written as a new version with the reason.
    #[serde(rename = "restate")]
    Restatement,
    /// Not recomputed; `why` says why.
    #[serde(rename = "skip")]
    Skipped,
}

impl Action {
    /// The name in text and JSON alike.
    pub fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Restatement => "restate",
            Action::Skipped => "skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    /// `YYYY-MM-DD`, `YYYY-Www`, `YYYY-MM`, `YYYY-Qn` or `YYYY`; `null`
    /// when unbounded (the whole history).
    pub start: Option<String>,
    pub end: Option<String>,
    /// With `--explain`: the inputs and bindings that brought the range in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Vec<Because>>,
}

/// One input or binding that brought (part of) a range into the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Because {
    /// `input` or `bind`.
    pub via: &'static str,
    /// The input's (or binding's) alias in the dataset.
    pub alias: String,
    /// What it reads.
    pub reads: String,
    /// The declarations the change travelled through, from the changed
    /// one to this dataset.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Always `bplc-plan`.
    pub format: &'static str,
    /// [`PLAN_VERSION`].
    pub version: u32,
    pub from: String,
    pub from_kind: DeclKind,
    pub mode: Mode,
    pub as_of: String,
    pub reason: Option<String>,
    /// The changed partitions of `from` (a source's in UTC days).
    pub changed: Vec<Range>,
    pub summary: Summary,
    /// Ordered by wave, then name.
    pub datasets: Vec<DatasetPlan>,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Every dataset in the plan, skipped ones included.
    pub datasets: usize,
    /// Datasets with nothing to recompute (every action `skip`).
    pub skipped: usize,
    /// Partitions to recompute (replace or restate); `null` if unbounded.
    pub partitions: Option<u64>,
    pub waves: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetPlan {
    pub dataset: String,
    pub wave: usize,
    pub partition: Partitioning,
    /// Ordered by first partition.
    pub actions: Vec<ActionPlan>,
    pub inputs: Vec<StepInput>,
    pub bindings: Vec<StepBinding>,
    /// The job's `version` when the plan was made.
    pub job_version: Option<u32>,
    /// A hash of the job's compiled contract when the plan was made (see
    /// [`contract_hash`]); `backfill --plan` refuses to run a plan whose
    /// version or contract changed since (E0334). `null` if the job could
    /// not be compiled.
    pub contract: Option<String>,
}

/// A hash of a dataset's contract as compiled: the declaration as written,
/// comments and layout aside (schema, inputs and their boundaries,
/// bindings, transformation, quality rules, reconciliation, closing rule,
/// version), and the columns and types of everything it reads, since an
/// upstream schema changes what the job compiles to. Reformatting a file
/// changes nothing; changing what the job computes or checks does.
pub fn contract_hash(
    sources: &crate::syntax::span::SourceMap,
    program: &crate::semantic::hir::Program,
    d: &Decl,
) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    // The checked declaration keeps the span of its name; its body runs
    // from there to the brace that closes it.
    let file = &sources.get(d.span.file).text;
    let from = file.get(d.span.start as usize..).unwrap_or("");
    hash.update(declaration(from).as_bytes());
    let read = d.inputs.iter().map(|i| i.target);
    for id in read.chain(d.binds.iter().map(|b| b.target)) {
        let t = program.get(id);
        hash.update(format!("\n{}:", t.name).as_bytes());
        for c in &t.columns {
            hash.update(format!(" {}={:?}", c.name, c.ty).as_bytes());
        }
    }
    let digest = hash.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The declaration `text` starts with, up to the brace that closes its
/// body, without `//` comments and with every run of white space one space
/// (string literals kept as written).
///
/// Runs of ordinary ASCII are copied whole: a plan hashes every planned
/// job's declaration, megabytes of text on a large project, and a
/// character at a time this was most of what `plan-backfill` adds to
/// `check`. What counts as white space is `char::is_whitespace`, as it was.
fn declaration(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(256);
    let (mut space, mut depth) = (false, 0usize);
    // The one space a run of white space or a comment leaves, before the
    // next thing written (none at the start).
    let separate = |out: &mut String, space: &mut bool| {
        if *space && !out.is_empty() {
            out.push(' ');
        }
        *space = false;
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                separate(&mut out, &mut space);
                let mut j = i + 1;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            j += 1;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                // An escape can only skip an ASCII byte or the first byte
                // of a character: the string ends on a boundary.
                let j = j.min(bytes.len());
                out.push_str(&text[i..j]);
                i = j;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = match bytes[i..].iter().position(|&b| b == b'\n') {
                    Some(n) => i + n + 1,
                    None => bytes.len(),
                };
                space = true;
            }
            b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r' => {
                space = true;
                i += 1;
            }
            b @ (b'{' | b'}') => {
                separate(&mut out, &mut space);
                out.push(b as char);
                i += 1;
                match b {
                    b'{' => depth += 1,
                    _ if depth <= 1 => break,
                    _ => depth -= 1,
                }
            }
            b if b >= 0x80 => {
                let c = text[i..].chars().next().unwrap_or(' ');
                if c.is_whitespace() {
                    space = true;
                } else {
                    separate(&mut out, &mut space);
                    out.push(c);
                }
                i += c.len_utf8();
            }
            _ => {
                separate(&mut out, &mut space);
                let run = bytes[i + 1..]
                    .iter()
                    .position(|&b| {
                        b >= 0x80
                            || b.is_ascii_whitespace()
                            || matches!(b, 0x0B | b'"' | b'/' | b'{' | b'}')
                    })
                    .map_or(bytes.len(), |n| i + 1 + n);
                out.push_str(&text[i..run]);
                i = run;
            }
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionPlan {
    pub action: Action,
    /// Why a range is skipped, or what an action needs.
    pub why: Option<String>,
    pub ranges: Vec<Range>,
    /// `null` when unbounded.
    pub partitions: Option<u64>,
}

/// How a dataset is partitioned, said outright.
#[derive(Debug, Clone, Serialize)]
pub struct Partitioning {
    /// `time` (a calendar key, perhaps with dimensions), `dimension`
    /// (dimension keys only), `hash`, `run` or `none`.
    pub kind: &'static str,
    /// The time key's grain; `null` without one.
    pub grain: Option<Grain>,
    pub keys: Vec<PartitionKeyInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionKeyInfo {
    pub name: String,
    /// `time`, `dimension`, `hash` or `run`.
    pub kind: &'static str,
}

impl Partitioning {
    pub fn of(d: &Decl) -> Partitioning {
        let key_kind = |k: &PartitionKind| match k {
            PartitionKind::Time(_) => "time",
            PartitionKind::Dimension => "dimension",
            PartitionKind::Hash { .. } => "hash",
            PartitionKind::Run => "run",
        };
        let keys: Vec<PartitionKeyInfo> = d
            .partition
            .iter()
            .map(|k| PartitionKeyInfo {
                name: k.name.clone(),
                kind: key_kind(&k.kind),
            })
            .collect();
        let has = |kind: &str| keys.iter().any(|k| k.kind == kind);
        let kind = ["run", "time", "hash", "dimension"]
            .into_iter()
            .find(|k| has(k))
            .unwrap_or("none");
        Partitioning {
            kind,
            grain: d.grain(),
            keys,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepInput {
    pub alias: String,
    pub reads: String,
    pub boundary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepBinding {
    pub alias: String,
    pub reference: String,
    pub policy: String,
    pub reproducible: bool,
}

/// A warning: a code (`bplc explain W0201`), the dataset it is about
/// (`null` when it lists several in `datasets`), a short message, and the
/// partitions concerned.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub code: Code,
    pub dataset: Option<String>,
    pub message: String,
    pub datasets: Vec<String>,
    pub partitions: Vec<Range>,
}

/// Names a text warning lists before "and N more".
const LISTED: usize = 8;

impl Warning {
    /// The warning as the text output writes it: its code, the dataset and
    /// partitions it is about, its message, and the first few datasets it
    /// lists.
    pub fn line(&self) -> String {
        let mut line = self.code.to_string();
        if let Some(d) = &self.dataset {
            line.push_str(&format!(" `{d}`"));
            let parts: Vec<String> = self
                .partitions
                .iter()
                .map(super::plan::show_range)
                .collect();
            if !parts.is_empty() {
                line.push_str(&format!(" {}", parts.join(", ")));
            }
            line.push(':');
        }
        line.push(' ');
        line.push_str(&self.message);
        if !self.datasets.is_empty() {
            let names: Vec<String> = self
                .datasets
                .iter()
                .take(LISTED)
                .map(|d| format!("`{d}`"))
                .collect();
            line.push_str(&format!(": {}", names.join(", ")));
            if self.datasets.len() > LISTED {
                line.push_str(&format!(" and {} more", self.datasets.len() - LISTED));
            }
        }
        line
    }
}

impl Plan {
    /// Total partitions to recompute (replace or restate); `None` if unbounded.
    pub fn partitions(&self) -> Option<u64> {
        self.actions()
            .filter(|(_, a)| a.action != Action::Skipped)
            .try_fold(0u64, |acc, (_, a)| a.partitions.map(|n| acc + n))
    }

    /// Every action with its dataset, in plan order.
    pub fn actions(&self) -> impl Iterator<Item = (&DatasetPlan, &ActionPlan)> {
        self.datasets
            .iter()
            .flat_map(|d| d.actions.iter().map(move |a| (d, a)))
    }

    pub fn dataset(&self, name: &str) -> Option<&DatasetPlan> {
        self.datasets.iter().find(|d| d.dataset == name)
    }
}

#[cfg(test)]
mod tests {
    /// The definition `declaration` had, a character at a time: the
    /// oracle the byte-wise one must agree with, so contract hashes do
    /// not change (a reviewed plan names them, E0334).
    fn by_chars(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        let (mut space, mut depth) = (false, 0usize);
        let push = |out: &mut String, c: char, space: &mut bool| {
            if *space && !out.is_empty() {
                out.push(' ');
            }
            *space = false;
            out.push(c);
        };
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    push(&mut out, c, &mut space);
                    while let Some(s) = chars.next() {
                        out.push(s);
                        match s {
                            '\\' => out.extend(chars.next()),
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                '/' if chars.peek() == Some(&'/') => {
                    for s in chars.by_ref() {
                        if s == '\n' {
                            break;
                        }
                    }
                    space = true;
                }
                c if c.is_whitespace() => space = true,
                c => {
                    push(&mut out, c, &mut space);
                    match c {
                        '{' => depth += 1,
                        '}' if depth <= 1 => break,
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
            }
        }
        out
    }

    #[test]
    fn declaration_text_is_what_it_was_a_character_at_a_time() {
        let mut texts: Vec<String> = [
            "",
            "dataset d {\n  version 1 // note\n  x = \"a // b\" }\n rest",
            "d { a { b } c } d }",
            "d {\u{a0}x\u{2028}y\u{85}z\u{0B}w\u{0C}v\r\n}",
            "d { s = \"é\\\"ü\" t = \"\\é\" }",
            "d { s = \"unterminated \\",
            "d { a / b // c\n/ }",
            "// only a comment",
            "  leading {}",
            "ünïcode { ß = 1 }",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for dir in ["examples", "stdlib"] {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            let mut stack = vec![root];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "bpl") {
                        texts.push(std::fs::read_to_string(&p).unwrap());
                    }
                }
            }
        }
        for text in &texts {
            // From every character boundary, as a declaration starts
            // anywhere in its file.
            for (at, _) in text.char_indices().step_by(7) {
                let from = &text[at..];
                assert_eq!(super::declaration(from), by_chars(from), "{from:?}");
            }
        }
    }
}
