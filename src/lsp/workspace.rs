//! The server's picture of the user's projects: every file of each project
//! (the editor's unsaved text for open files, the disk for the rest), parsed
//! modules, and the result of the last check.
//!
//! # Why checking after a keystroke is cheap
//!
//! A project is loaded and parsed once, when the first of its files is
//! opened. An edit only replaces the text of one file; before the next
//! answer ([`ProjectState::check`]) that file alone is parsed again (only
//! the declaration the edit is in, when it can: see `reparse`), the
//! other files' parsed modules are reused as they are, and the semantic
//! passes run over the whole project through [`driver::check_project`], the
//! function `bplc check` calls. So the diagnostics are those of `bplc
//! check`, code for code and message for message, without re-reading or
//! re-parsing anything that did not change. Several edits that arrive
//! together are parsed and checked once (see `server`).
//!
//! A file is identified by its [`FileId`], its position in the project's
//! [`SourceMap`]; ids never change while a project is loaded, so the spans
//! in the reused modules stay valid. A file the user creates is appended;
//! one they delete becomes empty; the next full reload (a file created or
//! deleted on disk, `bpl.toml` edited) puts everything back in order.
//!
//! A `.bpl` file outside any project (no `bpl.toml` above it) or not on disk
//! at all (`untitled:`) is checked alone, as a project of one file with the
//! default configuration.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsp_types::Uri;

use super::index::FileIndex;
use super::reparse::reparse;
use super::text::LineIndex;
use super::uri;
use crate::diagnostic::Diagnostic;
use crate::driver;
use crate::project::{self, Config, Project};
use crate::semantic::hir::Program;
use crate::syntax::ast::{self, Item, Module};
use crate::syntax::span::{FileId, SourceMap};

/// Which project a file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProjectKey {
    /// The directory holding `bpl.toml`.
    Dir(PathBuf),
    /// A file checked alone, by its URI.
    Lone(String),
}

/// One file of a project.
#[derive(Debug)]
pub struct FileEntry {
    /// The URI the client knows the file by; `None` for the prelude.
    pub uri: Option<Uri>,
    pub path: Option<PathBuf>,
    /// Its module in [`ProjectState::modules`]; `None` for `bpl.toml`.
    pub module: Option<usize>,
    /// What parsing it found.
    pub parse_diagnostics: Vec<Diagnostic>,
    pub lines: LineIndex,
    pub index: FileIndex,
    /// Open in the editor: the editor's text is the truth, not the disk.
    pub open: bool,
    /// The version of the editor's text (open files).
    pub version: Option<i32>,
    /// The client opened or edited the file and waits for its diagnostics,
    /// even if they did not change.
    pub announce: bool,
}

#[derive(Debug)]
pub struct ProjectState {
    pub key: ProjectKey,
    pub root: PathBuf,
    config: Config,
    pub sources: SourceMap,
    /// By [`FileId`].
    pub files: Vec<FileEntry>,
    /// As `driver::check_project` takes them: the prelude first.
    pub modules: Vec<Module>,
    pub prelude_len: usize,
    /// Found while loading `bpl.toml`; they last until the next reload.
    load_diagnostics: Vec<Diagnostic>,
    /// Texts edited since the last check, not parsed yet.
    pending: BTreeMap<FileId, String>,
    /// Whether the last check saw every change.
    fresh: bool,
    /// Every diagnostic of the last check, as `bplc check` would print them.
    pub diagnostics: Vec<Diagnostic>,
    /// The program of the last check that produced one. While a file does
    /// not parse it is older than the text, which is what completion and
    /// hover want: the columns of the inputs as they were a moment ago.
    pub program: Option<Program>,
    /// Declarations by name: `(module, item)`.
    decls: HashMap<String, (usize, usize)>,
    /// Functions and checks by name, the prelude's first.
    callables: HashMap<String, Vec<(usize, usize)>>,
    /// What was last published for each URI (by its text), to send only
    /// what changed.
    pub published: HashMap<String, (Uri, Vec<lsp_types::Diagnostic>)>,
    /// Files parsed since their [`FileIndex`] was built.
    unindexed: Vec<FileId>,
}

/// What a check leaves behind.
pub struct Checked {
    /// The program the check replaced: freed after publishing, off the
    /// server's thread (freeing a large program takes milliseconds).
    pub old_program: Option<Program>,
}

impl ProjectState {
    /// Loads the project whose `bpl.toml` is in `root`.
    pub fn load(root: &Path) -> Result<ProjectState, project::LoadError> {
        let project = project::load(root)?;
        Ok(ProjectState::from_project(
            ProjectKey::Dir(root.to_path_buf()),
            project,
        ))
    }

    /// A project of one file, checked alone.
    pub fn lone(uri: &Uri, text: &str) -> ProjectState {
        let path = uri::to_path(uri);
        let name = path
            .as_ref()
            .map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
        let project = project::from_sources(Config::default(), [(name.as_str(), text)]);
        let mut state =
            ProjectState::from_project(ProjectKey::Lone(uri.as_str().to_string()), project);
        if let Some(last) = state.files.last_mut() {
            last.uri = Some(uri.clone());
            last.path = path;
        }
        state
    }

    fn from_project(key: ProjectKey, p: Project) -> ProjectState {
        let mut module_of: HashMap<FileId, usize> = HashMap::new();
        for (i, m) in p.modules.iter().enumerate() {
            module_of.insert(m.file, i);
        }
        let prelude_files = p.modules[..p.prelude_len]
            .iter()
            .map(|m| m.file)
            .collect::<Vec<_>>();
        let mut files: Vec<FileEntry> = p
            .sources
            .files()
            .map(|(id, f)| {
                let path = (!prelude_files.contains(&id)).then(|| PathBuf::from(&f.name));
                let module = module_of.get(&id).copied();
                FileEntry {
                    uri: path
                        .as_deref()
                        .filter(|p| p.is_absolute())
                        .and_then(uri::from_path),
                    path,
                    module,
                    parse_diagnostics: Vec::new(),
                    lines: LineIndex::new(&f.text),
                    // Built by the first request that needs it.
                    index: FileIndex::default(),
                    open: false,
                    version: None,
                    announce: false,
                }
            })
            .collect();
        let mut load_diagnostics = Vec::new();
        for d in p.diagnostics {
            let file = d.primary_span().map(|s| s.file.0 as usize);
            match file.and_then(|f| files.get_mut(f)) {
                Some(entry) if entry.module.is_some() => entry.parse_diagnostics.push(d),
                _ => load_diagnostics.push(d),
            }
        }
        let unindexed = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.module.is_some())
            .map(|(i, _)| FileId(i as u32))
            .collect();
        ProjectState {
            key,
            root: p.root,
            config: p.config,
            sources: p.sources,
            files,
            modules: p.modules,
            prelude_len: p.prelude_len,
            load_diagnostics,
            pending: BTreeMap::new(),
            fresh: false,
            diagnostics: Vec::new(),
            program: None,
            decls: HashMap::new(),
            callables: HashMap::new(),
            published: HashMap::new(),
            unindexed,
        }
    }

    /// The file at `path`, if the project has it.
    pub fn file_at(&self, path: &Path) -> Option<FileId> {
        let found = |same: &dyn Fn(&Path) -> bool| {
            self.files
                .iter()
                .position(|f| f.module.is_some() && f.path.as_deref().is_some_and(same))
                .map(|i| FileId(i as u32))
        };
        found(&|p| p == path).or_else(|| {
            // The same file by another name (a symlink, `..`): rare, so
            // only then is the disk asked.
            let canonical = std::fs::canonicalize(path).ok()?;
            found(&|p| std::fs::canonicalize(p).is_ok_and(|c| c == canonical))
        })
    }

    /// The file the client calls `uri`.
    pub fn file_of(&self, uri: &Uri) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.uri.as_ref() == Some(uri))
            .map(|i| FileId(i as u32))
    }

    pub fn file(&self, id: FileId) -> &FileEntry {
        &self.files[id.0 as usize]
    }

    /// The current text of a file, edits included.
    pub fn text(&self, id: FileId) -> &str {
        match self.pending.get(&id) {
            Some(t) => t,
            None => &self.sources.get(id).text,
        }
    }

    /// The parsed module of a file.
    pub fn module(&self, id: FileId) -> Option<&Module> {
        self.file(id).module.map(|m| &self.modules[m])
    }

    /// Replaces a file's text; it is parsed at the next check.
    pub fn set_text(&mut self, id: FileId, text: String) {
        self.files[id.0 as usize].announce = true;
        if self.text(id) != text {
            self.pending.insert(id, text);
            self.fresh = false;
        }
    }

    /// Adds a file the project did not have (created in the editor).
    pub fn add_file(&mut self, uri: &Uri, path: Option<PathBuf>, text: String) -> FileId {
        let name = path
            .as_ref()
            .map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
        let id = self.sources.add(name, String::new());
        let module = self.modules.len();
        self.modules.push(Module {
            file: id,
            items: Vec::new(),
        });
        self.files.push(FileEntry {
            uri: Some(uri.clone()),
            path,
            module: Some(module),
            parse_diagnostics: Vec::new(),
            lines: LineIndex::default(),
            index: FileIndex::default(),
            open: false,
            version: None,
            announce: true,
        });
        self.pending.insert(id, text);
        self.fresh = false;
        id
    }

    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Parses the edited files again and checks the project, reusing every
    /// other file's module.
    pub fn check(&mut self) -> Checked {
        let mut pending = std::mem::take(&mut self.pending);
        let edited: Vec<FileId> = pending.keys().copied().collect();
        let old_texts: Vec<Arc<str>> = edited
            .iter()
            .map(|&id| self.sources.get(id).text.clone())
            .collect();
        if !pending.is_empty() {
            // `SourceMap` only grows, so the edited text goes into a new one
            // with every other text copied over: a memory copy, far cheaper
            // than parsing.
            let old = std::mem::take(&mut self.sources);
            for (id, f) in old.files() {
                match pending.remove(&id) {
                    Some(text) => self.sources.add(f.name.clone(), text),
                    None => self.sources.add(f.name.clone(), f.text.to_string()),
                };
            }
        }
        for (&id, old_text) in edited.iter().zip(&old_texts) {
            let text = &self.sources.get(id).text;
            let entry = &mut self.files[id.0 as usize];
            entry.lines = LineIndex::new(text);
            let Some(m) = entry.module else {
                continue;
            };
            let module = &mut self.modules[m];
            // One declaration if the file parsed cleanly, else all of it.
            let quick = entry.parse_diagnostics.is_empty() && reparse(module, old_text, text);
            if !quick {
                let (parsed, diags) = crate::syntax::parse(id, text);
                *module = parsed;
                entry.parse_diagnostics = diags;
            }
            self.unindexed.push(id);
        }
        let mut diagnostics = self.load_diagnostics.clone();
        for f in &self.files {
            diagnostics.extend(f.parse_diagnostics.iter().cloned());
        }
        let project = Project {
            root: self.root.clone(),
            config: self.config.clone(),
            sources: std::mem::take(&mut self.sources),
            modules: std::mem::take(&mut self.modules),
            prelude_len: self.prelude_len,
            diagnostics,
        };
        let checked = driver::check_project(project);
        self.sources = checked.project.sources;
        self.modules = checked.project.modules;
        self.diagnostics = checked.diagnostics;
        self.fresh = true;
        let old_program = match checked.program {
            Some(p) => self.program.replace(p),
            None => None,
        };
        Checked { old_program }
    }

    /// Brings up to date what requests look names up in, for the files
    /// parsed since. Diagnostics do not need it, so it waits for the first
    /// request after an edit instead of delaying them.
    pub fn reindex(&mut self) {
        if self.unindexed.is_empty() {
            return;
        }
        let mut files = std::mem::take(&mut self.unindexed);
        files.sort();
        files.dedup();
        for id in files {
            if let Some(m) = self.files[id.0 as usize].module {
                self.files[id.0 as usize].index = FileIndex::build(&self.modules[m]);
            }
        }
        self.tables();
    }

    fn tables(&mut self) {
        self.decls.clear();
        self.callables.clear();
        for (m, module) in self.modules.iter().enumerate() {
            for (i, item) in module.items.iter().enumerate() {
                match item {
                    Item::Decl(d) => {
                        self.decls.entry(d.name.name.clone()).or_insert((m, i));
                    }
                    Item::Function(_) | Item::Check(_) => self
                        .callables
                        .entry(item.name().name.clone())
                        .or_default()
                        .push((m, i)),
                }
            }
        }
    }

    /// A source, reference or dataset by name (the first, if defined twice).
    pub fn decl(&self, name: &str) -> Option<&ast::Decl> {
        let &(m, i) = self.decls.get(name)?;
        match self.modules.get(m)?.items.get(i)? {
            Item::Decl(d) => Some(d),
            _ => None,
        }
    }

    /// Every source, reference and dataset.
    pub fn decls(&self) -> impl Iterator<Item = &ast::Decl> {
        self.modules[self.prelude_len..]
            .iter()
            .flat_map(|m| &m.items)
            .filter_map(|i| match i {
                Item::Decl(d) => Some(d),
                _ => None,
            })
    }

    /// The functions (overloads) or the check called `name`.
    pub fn callables(&self, name: &str) -> Vec<&Item> {
        self.callables
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&(m, i)| self.modules.get(m)?.items.get(i))
            .collect()
    }

    /// Every function and check, prelude first.
    pub fn all_callables(&self) -> impl Iterator<Item = &Item> {
        self.modules
            .iter()
            .flat_map(|m| &m.items)
            .filter(|i| !matches!(i, Item::Decl(_)))
    }

    /// Whether a file is part of the prelude.
    pub fn is_prelude(&self, id: FileId) -> bool {
        self.file(id).module.is_some_and(|m| m < self.prelude_len)
    }

    /// The files the client may hear about: every file with a URI.
    pub fn client_files(&self) -> impl Iterator<Item = (FileId, &FileEntry)> {
        self.files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.uri.is_some())
            .map(|(i, f)| (FileId(i as u32), f))
    }
}

/// An open document: the editor's text is the truth for it.
#[derive(Debug)]
pub struct OpenDoc {
    pub uri: Uri,
    pub key: ProjectKey,
    pub text: String,
    pub version: i32,
}

/// Every project the client has a file open in.
#[derive(Default)]
pub struct Workspace {
    pub projects: BTreeMap<ProjectKey, ProjectState>,
    /// Open documents by URI (as text: `Uri` caches parts of itself, so it
    /// makes a poor map key), and the project each belongs to.
    pub open: HashMap<String, OpenDoc>,
}

impl Workspace {
    /// The project and file of an open document, or of any file of a
    /// loaded project.
    pub fn locate(&self, uri: &Uri) -> Option<(&ProjectState, FileId)> {
        if let Some(doc) = self.open.get(uri.as_str()) {
            let p = self.projects.get(&doc.key)?;
            return Some((p, p.file_of(uri)?));
        }
        let path = uri::to_path(uri);
        self.projects.values().find_map(|p| {
            let id = p
                .file_of(uri)
                .or_else(|| path.as_deref().and_then(|path| p.file_at(path)))?;
            Some((p, id))
        })
    }

    /// Opens a document: loads its project if need be, and makes the
    /// editor's text the file's text. Returns a message for the client's
    /// log when the project could not be loaded and the file is checked
    /// alone instead.
    pub fn open(&mut self, uri: Uri, version: i32, text: String) -> Option<String> {
        let mut note = None;
        let root = uri::to_path(&uri)
            .as_deref()
            .and_then(|p| project::find_root(p).ok())
            .filter(|root| root.is_absolute());
        let mut key = ProjectKey::Lone(uri.as_str().to_string());
        if let Some(root) = root {
            let dir = ProjectKey::Dir(root.clone());
            if self.projects.contains_key(&dir) {
                key = dir;
            } else {
                match ProjectState::load(&root) {
                    Ok(p) => {
                        self.projects.insert(dir.clone(), p);
                        key = dir;
                    }
                    Err(e) => note = Some(format!("{e}; checking `{}` alone", uri.as_str())),
                }
            }
        }
        if let Some(old) = self.open.get(uri.as_str()) {
            // Opened twice without a close: the first one is gone.
            if old.key != key {
                self.close(&uri);
            }
        }
        self.open.insert(
            uri.as_str().to_string(),
            OpenDoc {
                uri: uri.clone(),
                key: key.clone(),
                text,
                version,
            },
        );
        self.attach(&key, &uri);
        note
    }

    /// Puts an open document's text into its project (creating the project
    /// of a file checked alone).
    fn attach(&mut self, key: &ProjectKey, uri: &Uri) {
        let Some(doc) = self.open.get(uri.as_str()) else {
            return;
        };
        let p = match key {
            ProjectKey::Lone(_) => {
                let p = ProjectState::lone(uri, &doc.text);
                self.projects.insert(key.clone(), p);
                match self.projects.get_mut(key) {
                    Some(p) => p,
                    None => return,
                }
            }
            ProjectKey::Dir(_) => match self.projects.get_mut(key) {
                Some(p) => p,
                None => return,
            },
        };
        let path = uri::to_path(uri);
        let id = match p
            .file_of(uri)
            .or_else(|| path.as_deref().and_then(|path| p.file_at(path)))
        {
            Some(id) => {
                p.set_text(id, doc.text.clone());
                id
            }
            None => p.add_file(uri, path, doc.text.clone()),
        };
        let entry = &mut p.files[id.0 as usize];
        entry.uri = Some(uri.clone());
        entry.open = true;
        entry.announce = true;
        entry.version = Some(doc.version);
    }

    /// Applies the client's edits to an open document.
    pub fn change(
        &mut self,
        uri: &Uri,
        version: i32,
        changes: Vec<lsp_types::TextDocumentContentChangeEvent>,
    ) {
        let Some(doc) = self.open.get_mut(uri.as_str()) else {
            return;
        };
        super::text::apply_changes(&mut doc.text, changes);
        doc.version = version;
        let Some(p) = self.projects.get_mut(&doc.key) else {
            return;
        };
        let Some(id) = p.file_of(uri) else {
            return;
        };
        p.set_text(id, doc.text.clone());
        p.files[id.0 as usize].version = Some(version);
    }

    /// Closes a document: the disk is the truth again. A file checked alone
    /// is dropped; its URI is returned so its diagnostics can be cleared.
    pub fn close(&mut self, uri: &Uri) -> Option<Uri> {
        let doc = self.open.remove(uri.as_str())?;
        if let ProjectKey::Lone(_) = doc.key {
            self.projects.remove(&doc.key);
            return Some(uri.clone());
        }
        let p = self.projects.get_mut(&doc.key)?;
        let id = p.file_of(uri)?;
        let entry = &mut p.files[id.0 as usize];
        entry.open = false;
        entry.version = None;
        let disk = entry
            .path
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        p.set_text(id, disk);
        None
    }

    /// A file changed on disk (`workspace/didChangeWatchedFiles`). Files the
    /// editor has open are left alone; a created or deleted file, or a
    /// changed `bpl.toml`, reloads the project. Returns messages for the
    /// client's log.
    pub fn disk_changed(&mut self, path: &Path, created_or_deleted: bool) -> Vec<String> {
        let keys: Vec<ProjectKey> = self
            .projects
            .keys()
            .filter(|k| matches!(k, ProjectKey::Dir(root) if path.starts_with(root)))
            .cloned()
            .collect();
        let mut notes = Vec::new();
        let reload = created_or_deleted || path.file_name().is_some_and(|n| n == "bpl.toml");
        for key in keys {
            if reload {
                if let Err(e) = self.reload(&key) {
                    notes.push(e);
                }
                continue;
            }
            let Some(p) = self.projects.get_mut(&key) else {
                continue;
            };
            if let Some(id) = p.file_at(path) {
                if !p.file(id).open {
                    if let Ok(text) = std::fs::read_to_string(path) {
                        p.set_text(id, text);
                    }
                }
            }
        }
        notes
    }

    /// Loads a project from disk again, with the editor's texts of its open
    /// files. What was published is kept, so stale diagnostics get cleared,
    /// and so is the last program, for completion until the next check.
    pub fn reload(&mut self, key: &ProjectKey) -> Result<(), String> {
        let mut fresh = match key {
            ProjectKey::Dir(root) => ProjectState::load(root).map_err(|e| e.to_string())?,
            ProjectKey::Lone(_) => {
                let Some(uri) = self
                    .open
                    .iter()
                    .find(|(_, d)| &d.key == key)
                    .map(|(_, d)| d.uri.clone())
                else {
                    self.projects.remove(key);
                    return Ok(());
                };
                self.projects.remove(key);
                self.attach(key, &uri);
                return Ok(());
            }
        };
        if let Some(old) = self.projects.remove(key) {
            fresh.published = old.published;
            fresh.program = old.program;
        }
        self.projects.insert(key.clone(), fresh);
        let uris: Vec<Uri> = self
            .open
            .iter()
            .filter(|(_, d)| &d.key == key)
            .map(|(_, d)| d.uri.clone())
            .collect();
        for uri in uris {
            self.attach(key, &uri);
        }
        Ok(())
    }

    /// Puts a project back together after a check panicked half-way (a bug:
    /// the checker never panics on any input), or drops it if even that
    /// fails; its open files are then checked alone.
    pub fn recover(&mut self, key: &ProjectKey) {
        if self.reload(key).is_ok() {
            return;
        }
        self.projects.remove(key);
        let uris: Vec<Uri> = self
            .open
            .iter()
            .filter(|(_, d)| &d.key == key)
            .map(|(_, d)| d.uri.clone())
            .collect();
        for uri in uris {
            let lone = ProjectKey::Lone(uri.as_str().to_string());
            if let Some(doc) = self.open.get_mut(uri.as_str()) {
                doc.key = lone.clone();
            }
            self.attach(&lone, &uri);
        }
    }
}
