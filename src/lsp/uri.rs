//! `file://` URIs and paths. lsp-types 0.97 carries URIs as parsed strings
//! with no path conversion, so the few rules needed are here: percent
//! encoding, an empty or `localhost` authority, and Windows drive letters
//! (`file:///c%3A/x.bpl`).
//!
//! A URI the client sent is kept as it came and used again for that file;
//! these conversions are for files the client never named (other files of
//! a project, where a diagnostic or a definition may point).

use std::path::{Path, PathBuf};

use lsp_types::Uri;

/// The local path of a `file:` URI; `None` for any other scheme
/// (`untitled:`), a remote host, or an encoding that is not UTF-8.
pub fn to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let scheme_end = s.find(':')?;
    if !s[..scheme_end].eq_ignore_ascii_case("file") {
        return None;
    }
    let rest = s[scheme_end + 1..].strip_prefix("//")?;
    let (authority, path) = rest.split_at(rest.find('/')?);
    if !(authority.is_empty() || authority.eq_ignore_ascii_case("localhost")) {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decoded = percent_decode(path)?;
    if cfg!(windows) {
        // `/c:/x` -> `c:/x`
        let b = decoded.as_bytes();
        if b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' {
            return Some(PathBuf::from(&decoded[1..]));
        }
    }
    Some(PathBuf::from(decoded))
}

/// The `file:` URI of an absolute path.
pub fn from_path(path: &Path) -> Option<Uri> {
    let text = path.to_str()?;
    let text = text.replace('\\', "/");
    let mut out = String::from("file://");
    if !text.starts_with('/') {
        out.push('/');
    }
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=@".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.parse().ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("a valid URI")
    }

    #[cfg(unix)]
    #[test]
    fn file_uris_round_trip() {
        let p = Path::new("/tmp/my project/a é.bpl");
        let u = from_path(p).expect("a URI");
        assert_eq!(u.as_str(), "file:///tmp/my%20project/a%20%C3%A9.bpl");
        assert_eq!(to_path(&u).as_deref(), Some(p));
        assert_eq!(
            to_path(&uri("file://localhost/x/y.bpl")).as_deref(),
            Some(Path::new("/x/y.bpl"))
        );
    }

    #[test]
    fn other_schemes_and_bad_encodings_have_no_path() {
        assert_eq!(to_path(&uri("untitled:Untitled-1")), None);
        assert_eq!(to_path(&uri("file://server/share/x.bpl")), None);
        assert_eq!(to_path(&uri("file:///x/%FF.bpl")), None);
    }
}
