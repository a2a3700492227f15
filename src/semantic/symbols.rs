//! The project's names: one namespace for sources, references and datasets
//! (they are all tables), one for functions and checks (they are called).

use rustc_hash::FxHashMap as HashMap;

use crate::diagnostic::{codes, did_you_mean, Diagnostic};
use crate::syntax::ast::*;

pub struct Symbols<'a> {
    decls: Vec<&'a Decl>,
    by_name: HashMap<&'a str, &'a Decl>,
    functions: HashMap<&'a str, Vec<&'a FunctionDecl>>,
    checks: HashMap<&'a str, &'a CheckDecl>,
}

impl<'a> Symbols<'a> {
    /// Collects every declaration; a second one with a taken name is
    /// reported (pointing at both) and left out of the table.
    pub fn collect(modules: &'a [Module], diags: &mut Vec<Diagnostic>) -> Symbols<'a> {
        let mut s = Symbols {
            decls: Vec::new(),
            by_name: HashMap::default(),
            functions: HashMap::default(),
            checks: HashMap::default(),
        };
        for item in modules.iter().flat_map(|m| &m.items) {
            match item {
                Item::Decl(d) => {
                    if let Some(first) = s.by_name.get(d.name.name.as_str()) {
                        diags.push(duplicate(&d.name, &first.name, first.kind.keyword()));
                        continue;
                    }
                    s.by_name.insert(&d.name.name, d);
                    s.decls.push(d);
                }
                Item::Function(f) => {
                    if let Some(c) = s.checks.get(f.name.name.as_str()) {
                        diags.push(duplicate(&f.name, &c.name, "check"));
                        continue;
                    }
                    let overloads = s.functions.entry(&f.name.name).or_default();
                    if let Some(same) = overloads.iter().find(|o| o.params.len() == f.params.len())
                    {
                        diags.push(duplicate(&f.name, &same.name, "function"));
                        continue;
                    }
                    overloads.push(f);
                }
                Item::Check(c) => {
                    let taken = s
                        .checks
                        .get(c.name.name.as_str())
                        .map(|c| (&c.name, "check"))
                        .or_else(|| {
                            s.functions
                                .get(c.name.name.as_str())
                                .map(|f| (&f[0].name, "function"))
                        });
                    if let Some((first, kind)) = taken {
                        diags.push(duplicate(&c.name, first, kind));
                        continue;
                    }
                    s.checks.insert(&c.name.name, c);
                }
            }
        }
        s
    }

    /// Sources, references and datasets, in file order.
    pub fn decls(&self) -> impl Iterator<Item = &'a Decl> + '_ {
        self.decls.iter().copied()
    }

    pub fn decl(&self, name: &str) -> Option<&'a Decl> {
        self.by_name.get(name).copied()
    }

    pub fn functions(&self, name: &str) -> Option<&[&'a FunctionDecl]> {
        self.functions.get(name).map(Vec::as_slice)
    }

    pub fn check(&self, name: &str) -> Option<&'a CheckDecl> {
        self.checks.get(name).copied()
    }

    pub fn checks(&self) -> impl Iterator<Item = &'a CheckDecl> + '_ {
        self.checks.values().copied()
    }

    /// The closest declared table name, for "did you mean".
    pub fn suggest_decl(&self, name: &str) -> Option<&'a str> {
        did_you_mean(name, self.decls.iter().map(|d| d.name.name.as_str()))
    }

    /// The closest function or check name.
    pub fn suggest_callable(&self, name: &str) -> Option<&'a str> {
        did_you_mean(
            name,
            self.functions.keys().chain(self.checks.keys()).copied(),
        )
    }
}

fn duplicate(second: &Ident, first: &Ident, kind: &str) -> Diagnostic {
    Diagnostic::new(codes::E0101, format!("`{}` is defined twice", second.name))
        .primary(second.span, "defined again here")
        .secondary(first.span, format!("first defined here, as a {kind}"))
        .help("sources, references and datasets share one namespace; rename one of them")
}
