//! `bplc quarantine RUN`: the rows a run quarantined, each with its
//! partition, the rule it failed and why — a source's bad rows (a landing
//! file's with their file and line) beside the rows a quality rule
//! quarantined. Exit codes: 0 listed, 1 no such run, 2 usage or I/O error.

use super::run::{open, runtime_error, RunIdArgs};
use super::{accept_format, Cli, Format, Needs};
use crate::runtime::RuntimeError;

pub fn run(cli: &Cli, args: &RunIdArgs) -> u8 {
    if let Err(code) = accept_format(cli, "quarantine") {
        return code;
    }
    let o = match open(cli, &args.project, "the ledger is only read", Needs::Graph) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let rows = match o.stores().read_ledger() {
        Ok(Some(l)) => l.manifest(&args.run).and_then(|_| l.quarantined(&args.run)),
        Ok(None) => Err(RuntimeError::NoSuchRun(args.run.clone())),
        Err(e) => Err(e),
    };
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return runtime_error(e),
    };
    if cli.format == Format::Json {
        let listed: Vec<serde_json::Value> = rows
            .iter()
            .map(|(partition, rule, reason, record)| {
                serde_json::json!({
                    "partition": partition,
                    "rule": rule,
                    "reason": reason,
                    "record": serde_json::from_str::<serde_json::Value>(record)
                        .unwrap_or_else(|_| record.clone().into()),
                })
            })
            .collect();
        let v = serde_json::json!({ "run_id": args.run, "quarantined": listed });
        outln!("{}", serde_json::to_string_pretty(&v).expect("serialises"));
    } else if rows.is_empty() {
        outln!("{}: no rows quarantined", args.run);
    } else {
        for (partition, rule, reason, record) in &rows {
            outln!("{partition}  {rule}  {reason}");
            outln!("    {record}");
        }
    }
    0
}
