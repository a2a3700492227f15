//! A project on disk: `bpl.toml`, the `.bpl` files beneath it, and the
//! prelude from `stdlib/`, loaded into one [`SourceMap`] and parsed.

mod config;
mod prelude;

use std::path::{Path, PathBuf};

pub use config::{Config, Engine, EngineSettings, LedgerSettings, Lint, SparkCache, UnsetVariable};

use crate::diagnostic::{codes, Diagnostic};
use crate::syntax::ast::Module;
use crate::syntax::span::{FileId, SourceMap, Span};

/// Why a project could not be loaded at all (exit code 2), as opposed to a
/// project that loads and has errors (diagnostics, exit code 1).
#[derive(Debug)]
pub enum LoadError {
    NotFound(PathBuf),
    NoConfig(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl LoadError {
    /// The diagnostic code: E0010 for a file that cannot be read.
    pub fn code(&self) -> Option<crate::diagnostic::codes::Code> {
        matches!(self, LoadError::Io(..)).then_some(crate::diagnostic::codes::E0010)
    }

    /// The message without its code.
    pub fn detail(&self) -> String {
        match self {
            LoadError::NotFound(p) => format!("`{}` does not exist", p.display()),
            LoadError::NoConfig(p) => format!(
                "no `bpl.toml` in `{}` or any directory above it; a project is a directory with a `bpl.toml`",
                p.display()
            ),
            LoadError::Io(p, e) => format!("cannot read `{}`: {e}", p.display()),
        }
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code() {
            Some(code) => write!(f, "[{code}] {}", self.detail()),
            None => f.write_str(&self.detail()),
        }
    }
}

#[derive(Debug)]
pub struct Project {
    /// The directory holding `bpl.toml`.
    pub root: PathBuf,
    pub config: Config,
    pub sources: SourceMap,
    /// Parsed modules, prelude first.
    pub modules: Vec<Module>,
    /// How many of `modules` are the prelude.
    pub prelude_len: usize,
    /// Diagnostics found while loading and parsing.
    pub diagnostics: Vec<Diagnostic>,
}

impl Project {
    /// The user's modules, without the prelude.
    pub fn user_modules(&self) -> &[Module] {
        &self.modules[self.prelude_len..]
    }
}

/// Finds the project for `path`: the directory itself, a directory above it
/// holding `bpl.toml`, or the project of a single `.bpl` file.
pub fn find_root(path: &Path) -> Result<PathBuf, LoadError> {
    if !path.exists() {
        return Err(LoadError::NotFound(path.to_path_buf()));
    }
    let start = if path.is_file() {
        path.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        path.to_path_buf()
    };
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if d.join("bpl.toml").is_file() {
            return Ok(d.to_path_buf());
        }
        dir = d.parent().filter(|p| !p.as_os_str().is_empty());
    }
    Err(LoadError::NoConfig(start))
}

/// A project with the prelude loaded and nothing else yet.
fn with_prelude(root: PathBuf) -> Project {
    let mut p = Project {
        root,
        config: Config::default(),
        sources: SourceMap::default(),
        modules: Vec::new(),
        prelude_len: 0,
        diagnostics: Vec::new(),
    };
    for (name, text) in prelude::FILES {
        p.add_file(format!("<prelude>/{name}"), text.to_string());
    }
    p.prelude_len = p.modules.len();
    p
}

impl Project {
    /// Adds and parses one `.bpl` file.
    pub fn add_file(&mut self, name: String, text: String) -> FileId {
        let id = self.sources.add(name, text);
        let (module, diags) = parse_file(id, &self.sources);
        self.diagnostics.extend(diags);
        self.modules.push(module);
        id
    }

    /// Adds and parses many files, on every core: files parse independently,
    /// and results are kept in the order given so output stays stable.
    pub fn add_files(&mut self, files: Vec<(String, String)>) {
        let ids: Vec<FileId> = files
            .into_iter()
            .map(|(n, t)| self.sources.add(n, t))
            .collect();
        // Largest first, so no thread is left with a big file at the end.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.sources.get(ids[i]).text.len()));
        let sources = &self.sources;
        let parsed = crate::syntax::map_on_cores(&ids, &order, |id| parse_file(*id, sources));
        for (module, diags) in parsed {
            self.diagnostics.extend(diags);
            self.modules.push(module);
        }
    }
}

/// A project held in memory: the prelude plus the given `(name, text)`
/// files. For tests, the book's examples and editors.
pub fn from_sources<'a>(
    config: Config,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Project {
    let mut p = with_prelude(PathBuf::from("."));
    p.config = config;
    for (name, text) in files {
        p.add_file(name.to_string(), text.to_string());
    }
    p
}

/// Loads and parses the project at `path`.
pub fn load(path: &Path) -> Result<Project, LoadError> {
    let root = find_root(path)?;
    let config_path = root.join("bpl.toml");
    let config_text = read(&config_path)?;
    let mut project = with_prelude(root.clone());
    let sources = &mut project.sources;
    let mut diagnostics = Vec::new();

    let config_id = sources.add(display(&config_path), config_text);
    let config = match Config::parse(&sources.get(config_id).text) {
        Ok(c) => c,
        Err((message, range)) => {
            let span = range.map_or(Span::new(config_id, 0, 0), |r| {
                Span::new(config_id, r.start, r.end)
            });
            diagnostics.push(
                Diagnostic::new(codes::E0009, format!("invalid `bpl.toml`: {message}"))
                    .primary(span, "here")
                    .help("see the book's chapter on projects for every key of `bpl.toml`"),
            );
            Config::default()
        }
    };

    diagnostics.extend(validate_config(
        &config,
        config_id,
        &sources.get(config_id).text,
    ));
    project.config = config;
    project.diagnostics.extend(diagnostics);
    let mut files = Vec::new();
    for file in bpl_files(&root)? {
        files.push((display(&file), read(&file)?));
    }
    project.add_files(files);
    Ok(project)
}

/// Values `bpl.toml` may hold syntactically but that mean nothing: an
/// unknown time zone, a `deny` entry that is not a warning code.
fn validate_config(config: &Config, file: FileId, text: &str) -> Vec<Diagnostic> {
    let span_of = |value: &str| {
        let quoted = format!("\"{value}\"");
        text.find(&quoted).map_or(Span::new(file, 0, 0), |at| {
            Span::new(file, at, at + quoted.len())
        })
    };
    let mut diags = Vec::new();
    if let Some(tz) = &config.time_zone {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            diags.push(
                Diagnostic::new(
                    codes::E0009,
                    format!("invalid `bpl.toml`: unknown time zone \"{tz}\""),
                )
                .primary(span_of(tz), "not an IANA time zone")
                .help("use an IANA name such as \"Asia/Jakarta\" or \"UTC\""),
            );
        }
    }
    for alias in config.attach.keys() {
        let word = alias
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let reserved = ["main", "temp"].contains(&alias.to_ascii_lowercase().as_str());
        if !word || reserved {
            let at = text
                .find(alias.as_str())
                .map_or(Span::new(file, 0, 0), |at| {
                    Span::new(file, at, at + alias.len())
                });
            diags.push(
                Diagnostic::new(
                    codes::E0009,
                    format!("invalid `bpl.toml`: `{alias}` cannot name an attached database"),
                )
                .primary(at, "not an alias")
                .help("an alias is a word of letters, digits and `_` (not `main` or `temp`), as in `raw = \"data/raw.sqlite\"`"),
            );
        }
    }
    for code in &config.lint.deny {
        let known = crate::diagnostic::Code::lookup(code)
            .is_some_and(|i| i.code.default_level() == crate::diagnostic::Level::Warning);
        if !known {
            diags.push(
                Diagnostic::new(
                    codes::E0009,
                    format!("invalid `bpl.toml`: `{code}` is not a warning code"),
                )
                .primary(span_of(code), "cannot be denied")
                .help("`deny` lists warning codes such as \"W0101\"; errors always fail the check"),
            );
        }
    }
    diags
}

fn parse_file(id: FileId, sources: &SourceMap) -> (Module, Vec<Diagnostic>) {
    crate::syntax::parse(id, &sources.get(id).text)
}

fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

fn read(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::Io(path.to_path_buf(), e))?;
    String::from_utf8(bytes).map_err(|_| {
        LoadError::Io(
            path.to_path_buf(),
            std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
        )
    })
}

/// Every `.bpl` file under `root`, in a stable order, skipping build output,
/// hidden directories and dependencies.
pub fn bpl_files(root: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0 || !(name.starts_with('.') || name == "target" || name == "node_modules")
        });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf());
            LoadError::Io(path, e.into())
        })?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "bpl") {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}
