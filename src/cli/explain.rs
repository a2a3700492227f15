//! `bplc explain CODE`: the same text as the book's error index.

use super::{usage_error, Cli, ExplainArgs, Format};
use crate::diagnostic::Code;

pub fn run(cli: &Cli, args: &ExplainArgs) -> u8 {
    if let Err(code) = super::accept_format(cli, "explain") {
        return code;
    }
    let Some(info) = Code::lookup(&args.code) else {
        return usage_error(format!(
            "`{}` is not a bplc diagnostic code; codes look like `E0001` or `W0101` (see the book's error index)",
            args.code
        ));
    };
    match cli.format {
        Format::Json => {
            let v = serde_json::json!({
                "code": info.code,
                "title": info.title,
                "explanation": info.explanation,
            });
            outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
        }
        _ => out!("{}", info.explanation),
    }
    0
}
