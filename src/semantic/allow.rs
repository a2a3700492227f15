//! Inline allowances: `allow W0101 because "..."` silences one warning on one
//! declaration, and must say why. Errors cannot be allowed, except the few
//! that forbid something sometimes meant ([`ALLOWABLE_ERRORS`]).

use super::Symbols;
use crate::diagnostic::{codes, Code, Diagnostic, Level};
use crate::syntax::ast::*;

/// Errors a declaration may allow with a reason: a sum of a measure that
/// does not add up across partitions is almost always a mistake, but a
/// "case-days" figure (the sum of daily open cases) is a real measure.
const ALLOWABLE_ERRORS: &[Code] = &[codes::E0140, codes::E0141];

pub fn apply(symbols: &Symbols<'_>, mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut allowed: Vec<(&Decl, Code)> = Vec::new();
    for decl in symbols.decls() {
        for clause in &decl.clauses {
            let ClauseKind::Allow { code, reason } = &clause.kind else {
                continue;
            };
            match Code::lookup(&code.name) {
                Some(info)
                    if info.code.default_level() == Level::Warning
                        || ALLOWABLE_ERRORS.contains(&info.code) =>
                {
                    if reason.value.trim().is_empty() {
                        diags.push(
                            Diagnostic::new(codes::E0123, format!("allowing `{}` needs a reason", code.name))
                                .primary(reason.span, "empty reason")
                                .help("say why the check does not apply here; the reason is what a reviewer reads"),
                        );
                    }
                    allowed.push((decl, info.code));
                }
                Some(_) => diags.push(
                    Diagnostic::new(codes::E0123, format!("`{}` is an error and cannot be allowed", code.name))
                        .primary(code.span, "an error code")
                        .help("only warnings (`W…`) and the sums of E0140 and E0141 can be allowed; fix what the error reports"),
                ),
                None => diags.push(
                    Diagnostic::new(codes::E0123, format!("`{}` is not a bplc diagnostic code", code.name))
                        .primary(code.span, "unknown code")
                        .help("`bplc explain CODE` lists what each code means; warning codes look like `W0101`"),
                ),
            }
        }
    }
    diags.retain(|d| {
        let Some(at) = d.primary_span() else {
            return true;
        };
        !allowed.iter().any(|(decl, code)| {
            *code == d.code
                && decl.span.file == at.file
                && decl.span.start <= at.start
                && at.end <= decl.span.end
        })
    });
    diags
}
