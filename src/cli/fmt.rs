//! `bplc fmt [--check] [PATH]`: rewrites `.bpl` files in the canonical layout
//! (see `syntax::fmt`). A file with a syntax error is reported and left alone.
//!
//! Exit codes: 0 all files formatted (or, with `--check`, already canonical);
//! 1 a file has syntax errors, or `--check` found a file that would change;
//! 2 a missing path or an I/O error.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::render;
use super::{usage_error, Cli, Color, Format, EXIT_NOT_OK};
use crate::project::{bpl_files, find_root};
use crate::syntax::fmt::format;
use crate::syntax::span::SourceMap;

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// Write nothing: list the files that would change, exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// A project directory (or a directory inside one: the whole project is
    /// formatted), or a single `.bpl` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

/// What `--format json` prints.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    /// Files rewritten, or with `--check` files that would be.
    changed: Vec<String>,
    /// Files already in the canonical layout.
    unchanged: usize,
    /// Files left alone because they have syntax errors.
    errors: usize,
    /// Those syntax errors (shown as text on standard error otherwise).
    diagnostics: Vec<render::JsonDiagnostic>,
}

pub fn run(cli: &Cli, args: &FmtArgs) -> u8 {
    if let Err(code) = super::accept_format(cli, "fmt") {
        return code;
    }
    let files = match files(&args.path) {
        Ok(files) => files,
        Err(message) => return usage_error(message),
    };
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::env::var_os("NO_COLOR").is_none() && io::IsTerminal::is_terminal(&io::stderr())
        }
    };
    let mut sources = SourceMap::default();
    let mut outcome = Outcome::default();
    for path in &files {
        let text = match read(path) {
            Ok(text) => text,
            Err(e) => return usage_error(format!("cannot read `{}`: {e}", path.display())),
        };
        let name = display(path);
        let id = sources.add(name.clone(), text.as_str());
        match format(id, &text) {
            Err(diags) => {
                outcome.errors += 1;
                if cli.format == Format::Json {
                    let json = diags
                        .iter()
                        .map(|d| render::JsonDiagnostic::new(&sources, d));
                    outcome.diagnostics.extend(json);
                    continue;
                }
                let mut err = super::output::stderr();
                for d in &diags {
                    let _ = write!(err, "{}", render::text(&sources, d, color));
                }
            }
            Ok(formatted) if formatted == text => outcome.unchanged += 1,
            Ok(formatted) => {
                if !args.check {
                    if let Err(e) = write_atomically(path, &formatted) {
                        return usage_error(format!("cannot write `{}`: {e}", path.display()));
                    }
                }
                outcome.changed.push(name);
            }
        }
    }
    if let Err(e) = report(cli.format, args.check, &outcome) {
        return usage_error(format!("cannot write output: {e}"));
    }
    if outcome.errors > 0 || (args.check && !outcome.changed.is_empty()) {
        EXIT_NOT_OK
    } else {
        0
    }
}

/// The files `path` names: itself if it is a file, else every `.bpl` file of
/// the project it is in.
fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.exists() {
        return Err(format!("`{}` does not exist", path.display()));
    }
    if path.is_file() {
        if path.extension().is_some_and(|x| x == "bpl") {
            return Ok(vec![path.to_path_buf()]);
        }
        return Err(format!("`{}` is not a `.bpl` file", path.display()));
    }
    let root = find_root(path).map_err(|e| e.to_string())?;
    bpl_files(&root).map_err(|e| e.to_string())
}

fn read(path: &Path) -> io::Result<String> {
    let bytes = fs::read(path)?;
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8"))
}

fn display(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Replaces the file's content all at once: the new text goes to a hidden
/// file beside it, which is then renamed over it, so a crash leaves either
/// the old file or the new one. A symbolic link is followed, not replaced.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let target = fs::canonicalize(path)?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.bplc-fmt-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::set_permissions(&tmp, fs::metadata(&target)?.permissions())?;
        fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn report(format: Format, check: bool, o: &Outcome) -> io::Result<()> {
    let mut out = super::output::stdout();
    if format == Format::Json {
        let json = serde_json::to_string_pretty(o).expect("the outcome serializes");
        writeln!(out, "{json}")?;
        return out.flush();
    }
    for path in &o.changed {
        writeln!(out, "{path}")?;
    }
    out.flush()?;
    let plural = |n: usize| if n == 1 { "file" } else { "files" };
    let n = o.changed.len();
    let mut line = match (check, n) {
        (true, 0) => format!("{} {} already formatted", o.unchanged, plural(o.unchanged)),
        (true, n) => format!(
            "{n} {} would be reformatted, {} already formatted",
            plural(n),
            o.unchanged
        ),
        (false, n) => format!(
            "reformatted {n} {}, {} already formatted",
            plural(n),
            o.unchanged
        ),
    };
    if o.errors > 0 {
        line.push_str(&format!(", {} with syntax errors left unchanged", o.errors));
    }
    errln!("{line}");
    Ok(())
}
