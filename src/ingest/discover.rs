//! Finding a source's landing files: the glob of its `files` clause,
//! relative to the project. The folder part of the pattern (up to the
//! first wildcard) is walked; `*` and `?` match within one path
//! component, `**` any number of components. Files come back sorted by
//! path, so files are read in the same order on every machine.

use std::path::{Path, PathBuf};

use crate::runtime::RuntimeError;

/// A file the pattern matched, as found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The path as the pattern matched it: relative to the project, with `/`.
    pub path: String,
    pub abs: PathBuf,
    pub size: i64,
    /// The modification time, RFC 3339 in UTC to the nanosecond.
    pub modified: String,
}

/// What a landing folder holds.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The folder walked: the pattern up to its first wildcard.
    pub folder: PathBuf,
    pub exists: bool,
    pub matched: Vec<Found>,
    /// Files in the folder the pattern did not match.
    pub unmatched: usize,
}

pub fn discover(root: &Path, glob: &str) -> Result<Discovery, RuntimeError> {
    let parts: Vec<&str> = glob
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let fixed = parts.iter().take_while(|p| !wild(p)).count();
    // A pattern without wildcards names one file: its folder is walked.
    let fixed = if fixed == parts.len() {
        fixed.saturating_sub(1)
    } else {
        fixed
    };
    let mut folder = if glob.starts_with('/') {
        PathBuf::from("/")
    } else {
        root.to_path_buf()
    };
    let mut prefix = String::new();
    for p in &parts[..fixed] {
        folder.push(p);
        prefix.push_str(p);
        prefix.push('/');
    }
    let pattern = &parts[fixed..];
    let mut d = Discovery {
        exists: folder.is_dir(),
        folder: folder.clone(),
        matched: Vec::new(),
        unmatched: 0,
    };
    if !d.exists {
        return Ok(d);
    }
    // Without `**` a match is exactly as deep as the pattern.
    let depth = if pattern.contains(&"**") {
        usize::MAX
    } else {
        pattern.len()
    };
    for entry in walkdir::WalkDir::new(&folder)
        .min_depth(1)
        .max_depth(depth)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| RuntimeError::Io(format!("{}: {e}", folder.display())))?;
        // A symlink to a file is a file: landing folders are often links
        // into a shared drop area. Its size and time are the target's.
        let linked = entry.file_type().is_symlink()
            && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
        if !entry.file_type().is_file() && !linked {
            continue;
        }
        let rel = entry.path().strip_prefix(&folder).unwrap_or(entry.path());
        let comps: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let comps: Vec<&str> = comps.iter().map(String::as_str).collect();
        if !matches(pattern, &comps) {
            d.unmatched += 1;
            continue;
        }
        let meta = std::fs::metadata(entry.path())
            .map_err(|e| RuntimeError::Io(format!("{}: {e}", entry.path().display())))?;
        let modified = meta
            .modified()
            .map(|t| {
                chrono::DateTime::<chrono::Utc>::from(t)
                    .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                    .to_string()
            })
            .unwrap_or_default();
        d.matched.push(Found {
            path: format!("{prefix}{}", comps.join("/")),
            abs: entry.path().to_path_buf(),
            size: meta.len() as i64,
            modified,
        });
    }
    d.matched.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(d)
}

fn wild(part: &str) -> bool {
    part.contains(['*', '?'])
}

/// Whether path components match pattern components.
fn matches(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            matches(&pattern[1..], path) || (!path.is_empty() && matches(pattern, &path[1..]))
        }
        (Some(p), Some(c)) => {
            component(p.as_bytes(), c.as_bytes()) && matches(&pattern[1..], &path[1..])
        }
        _ => false,
    }
}

/// `*` and `?` within one component; a leading `.` is matched only by a
/// pattern that starts with one, so editors' hidden files stay out.
fn component(p: &[u8], c: &[u8]) -> bool {
    if c.first() == Some(&b'.') && p.first() != Some(&b'.') {
        return false;
    }
    // Iterative wildcard match: the last `*` seen and where it resumed.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < c.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == c[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, c: &str) -> bool {
        let p: Vec<&str> = p.split('/').collect();
        let c: Vec<&str> = c.split('/').collect();
        matches(&p, &c)
    }

    #[test]
    fn stars_match_within_a_component_and_double_stars_across() {
        assert!(m("*.csv", "2026-06-01.csv"));
        assert!(!m("*.csv", "2026-06-01.csv.tmp"));
        assert!(!m("*.csv", "june/2026-06-01.csv"));
        assert!(m("**/*.csv", "june/2026-06-01.csv"));
        assert!(m("**/*.csv", "2026-06-01.csv"));
        assert!(m("events-????-06-*.jsonl", "events-2026-06-01.jsonl"));
        assert!(!m("*.csv", ".hidden.csv"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
    }
}

#[cfg(all(test, unix))]
mod link_tests {
    use super::*;

    /// A landing folder of links into a drop area: each link to a file is
    /// found with its target's size; a link to a folder or to nothing is not.
    #[test]
    fn symlinks_to_files_are_found() {
        let dir = std::env::temp_dir().join(format!("bpl-discover-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (drop, landing) = (dir.join("drop"), dir.join("landing"));
        std::fs::create_dir_all(&drop).unwrap();
        std::fs::create_dir_all(&landing).unwrap();
        std::fs::write(drop.join("a.csv"), "id\n1\n").unwrap();
        std::os::unix::fs::symlink(drop.join("a.csv"), landing.join("a.csv")).unwrap();
        std::os::unix::fs::symlink(&drop, landing.join("sub.csv")).unwrap();
        std::os::unix::fs::symlink(drop.join("gone.csv"), landing.join("gone.csv")).unwrap();
        std::fs::write(landing.join("b.csv"), "id\n").unwrap();
        let d = discover(&dir, "landing/*.csv").unwrap();
        let found: Vec<(&str, i64)> = d
            .matched
            .iter()
            .map(|f| (f.path.as_str(), f.size))
            .collect();
        assert_eq!(found, [("landing/a.csv", 5), ("landing/b.csv", 3)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
