//! Stable diagnostic codes. Each code's explanation is a page of the book
//! (`book/src/errors/CODE.md`), embedded here so `bplc explain CODE` prints the
//! same text the book shows: one source for both.

use serde::{Serialize, Serializer};

use super::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(&'static str);

impl Code {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    pub fn default_level(self) -> Level {
        if self.0.starts_with('W') {
            Level::Warning
        } else {
            Level::Error
        }
    }

    /// The registry entry of this code.
    pub fn info(self) -> &'static CodeInfo {
        ALL.iter()
            .find(|i| i.code == self)
            .expect("every Code constant is in the registry")
    }

    pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
        ALL.iter().find(|i| i.code.0.eq_ignore_ascii_case(code))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

#[derive(Debug)]
pub struct CodeInfo {
    pub code: Code,
    pub title: &'static str,
    /// The book page: what it means, a wrong and a right example.
    pub explanation: &'static str,
}

macro_rules! define_codes {
    ($( $id:ident: $title:literal, )*) => {
        $( pub const $id: Code = Code(stringify!($id)); )*
        /// Every code, in order.
        pub static ALL: &[CodeInfo] = &[
            $( CodeInfo {
                code: $id,
                title: $title,
                explanation: include_str!(concat!("../../book/src/errors/", stringify!($id), ".md")),
            }, )*
        ];
    };
}

define_codes! {
    E0001: "syntax error",
    E0002: "unclosed delimiter",
    E0003: "unknown clause",
    E0004: "unknown type",
    E0005: "invalid literal",
    E0006: "misplaced doc comment",
    E0007: "unknown top-level declaration",
    E0008: "nesting too deep",
    E0009: "invalid project configuration",
    E0010: "unreadable source file",
    E0011: "expression nested too deep",
    E0012: "reusable check that calls itself",
    E0013: "reusable check that grows too large where it is used",
    E0101: "name defined twice",
    E0102: "unknown source, reference or dataset",
    E0103: "clause in the wrong kind of declaration",
    E0104: "clause stated twice",
    E0105: "required clause missing",
    E0106: "column declared twice",
    E0107: "unknown column named by a clause",
    E0108: "input or binding of the wrong kind",
    E0109: "alias bound twice",
    E0110: "input without a boundary",
    E0111: "malformed window",
    E0112: "pinned binding on an unversioned reference",
    E0113: "unknown reference version",
    E0114: "as-of binding on a reference that is not effective-dated",
    E0115: "latest binding without a reason",
    E0116: "unknown function",
    E0117: "wrong number of arguments",
    E0118: "nondeterministic function",
    E0119: "dependency cycle",
    E0120: "table with two owners",
    E0121: "closed periods without a restatement policy",
    E0122: "schedule without a time zone",
    E0123: "invalid allowance",
    E0124: "unknown column in an expression",
    E0125: "ambiguous column",
    E0126: "output column without a name",
    E0127: "computed columns differ from declared columns",
    E0128: "type mismatch",
    E0129: "aggregate where a row is expected",
    E0130: "column neither grouped nor aggregated",
    E0131: "value that may be null where one is required",
    E0132: "severity that cannot route this kind of rule",
    E0133: "unknown time zone",
    E0134: "boundary that is not a partition mapping",
    E0135: "close rule the planner cannot read",
    E0136: "`--range` on something without time partitions",
    E0140: "sum of a non-additive measure across partitions",
    E0141: "sum of an overlapping measure across partitions",
    E0142: "`unmatched` of a binding that is not left-joined",
    E0143: "`partition_count` of an input without partitions to count",
    E0144: "counter read outside a check, or of something not an input",
    E0145: "`bad rows` policy that would publish or hold bad rows",
    E0146: "`drift` with nothing to compare",
    E0301: "partition leased by another run",
    E0302: "input table missing or not as declared",
    E0303: "unreadable or newer ledger",
    E0304: "no such run, or not in a state for the command",
    E0305: "pipeline the engine cannot run",
    E0306: "engine failure during a run",
    E0307: "replacing a closed partition",
    E0308: "output name taken by a table the project does not own",
    E0309: "run stopped by a signal",
    E0310: "restatement the contract refuses",
    E0311: "backfill that disagrees with its saved plan",
    E0312: "stored schema older than the declaration",
    E0313: "environment variable in `bpl.toml` not set",
    E0314: "attached source database that cannot be used",
    E0315: "landing-file format option bplc cannot read",
    E0316: "clause that does not fit a landing-folder source",
    E0317: "seed that cannot be loaded",
    E0318: "pinned seed whose content changed",
    E0319: "PostgreSQL data table whose text dates cannot be converted",
    E0320: "`--date` or `--range` the dataset cannot take",
    E0321: "`--dim` the dataset cannot take",
    E0322: "no such version of a partition",
    E0323: "saved plan naming a dataset the project does not declare",
    E0324: "warehouse or ledger that cannot be written",
    E0330: "warehouse and ledger of different projects",
    E0331: "warehouse or ledger of another project",
    E0332: "new ledger next to a warehouse that holds runs",
    E0333: "warehouse or ledger location that does not exist",
    E0334: "saved plan whose job changed since it was planned",
    E0335: "rollback of a closed period without a reason",
    E0336: "Spark retry budget that is not a whole number of seconds",
    E0337: "warehouse or ledger locked by another process past the lock timeout",
    E0338: "held run whose staged rows are no longer in the warehouse",
    E0340: "output value not of its declared type, or null where it may not be",
    E0341: "bad rows in a source whose bad rows fail the partition or the run",
    E0342: "decimal type whose precision or scale cannot be stored exactly",
    E0343: "decimal arithmetic that would drop digits silently",
    E0344: "decimal rounding to a scale that is not a whole-number literal",
    E0345: "sum or product beyond the digits an int or a decimal holds",
    E0350: "`--as-of` at which the schedules cannot be judged",
    E0351: "status or metrics of a project without a ledger",
    E0352: "`run-due` already running for this ledger",
    E0353: "metrics file that cannot be written",
    E0354: "lineage site directory that cannot be written",
    E0360: "PostgreSQL connection URL variable not set",
    E0361: "PostgreSQL server that cannot be reached",
    E0362: "PostgreSQL login or database refused",
    E0363: "PostgreSQL schema missing or not usable by the role",
    E0364: "PostgreSQL connection lost during a run",
    E0365: "PostgreSQL engine chosen in a bplc built without it",
    E0366: "PostgreSQL ledger server that cannot be reached",
    E0367: "PostgreSQL ledger schema not usable by the role",
    E0368: "PostgreSQL ledger connection lost",
    E0369: "landing folders with a PostgreSQL ledger",
    E0370: "Spark Connect URL variable not set or not a Spark Connect URL",
    E0371: "Spark Connect server that cannot be reached",
    E0372: "Spark database missing and not creatable",
    E0373: "Spark session lost during a run",
    E0374: "Spark refused access to the catalog or the warehouse path",
    E0375: "Spark engine chosen in a bplc built without it",
    E0380: "landing file without a declared column",
    E0381: "landing folder that is missing or empty",
    E0382: "file pattern that matches no file",
    E0383: "landing file changed after it was ingested",
    E0384: "landing file that cannot be read",
    E0385: "malformed lines in a source whose bad rows fail",
    E0386: "landing file column of another type than declared",
    E0387: "Parquet files without the Parquet reader",
    E0388: "source schema that does not exist",
    E0389: "source table missing from its schema",
    E0390: "source table the role may not read",
    E0391: "landing folders or seeds on the Spark engine",
    W0101: "lookback shorter than the source's lateness",
    W0102: "scheduled time in a daylight-saving gap or overlap",
    W0201: "backfill crosses a closed period",
    W0202: "change beyond the scheduled lookback",
    W0203: "backfill reads a reference it cannot reproduce",
    W0204: "restatement without a reason",
}
