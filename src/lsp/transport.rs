//! The server's stdio: LSP frames (`Content-Length` headers, a JSON body)
//! in on stdin, out on stdout.
//!
//! lsp-server has a stdio transport of its own, but its reader thread stops
//! at the first frame it cannot read (a body that is not JSON, a header
//! without a colon) and would take the server with it, and it allocates
//! whatever `Content-Length` claims. This one logs a bad frame to stderr and
//! reads on, skips bodies over [`MAX_BODY`], and hands good messages to the
//! same in-memory [`Connection`] tests use, so the server loop cannot tell
//! the two apart.

use std::io::{self, BufRead, Read, Write};
use std::thread::JoinHandle;

use lsp_server::{Connection, Message};

/// The largest message body read; a larger one is skipped. Generous: a
/// `didOpen` carries a whole file.
pub const MAX_BODY: usize = 256 << 20;
/// The longest header line.
const MAX_HEADER_LINE: u64 = 8 << 10;

/// A connection over stdin and stdout, and the thread that writes stdout
/// (join it after the server returns, so every reply is flushed).
pub fn stdio() -> io::Result<(Connection, JoinHandle<()>)> {
    let (server, client) = Connection::memory();
    let Connection { sender, receiver } = client;
    std::thread::Builder::new()
        .name("bplc-lsp-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            loop {
                match read_message(&mut input) {
                    Ok(None) => break,
                    Ok(Some(Ok(message))) => {
                        if sender.send(message).is_err() {
                            break;
                        }
                    }
                    Ok(Some(Err(problem))) => {
                        eprintln!("bplc lsp: ignoring a bad message: {problem}")
                    }
                    Err(e) => {
                        eprintln!("bplc lsp: cannot read stdin: {e}");
                        break;
                    }
                }
            }
        })?;
    let writer = std::thread::Builder::new()
        .name("bplc-lsp-writer".into())
        .spawn(move || {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            for message in receiver {
                if let Err(e) = message.write(&mut out).and_then(|()| out.flush()) {
                    eprintln!("bplc lsp: cannot write stdout: {e}");
                    break;
                }
            }
        })?;
    Ok((server, writer))
}

/// Reads one frame: `Ok(None)` at the end of the input, `Ok(Some(Err))` for
/// a frame that is not a message (the input is positioned after it).
pub fn read_message(input: &mut impl BufRead) -> io::Result<Option<Result<Message, String>>> {
    let mut length: Option<usize> = None;
    let mut headers = 0;
    loop {
        let mut line = Vec::new();
        let n = input
            .by_ref()
            .take(MAX_HEADER_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") {
            if (n as u64) < MAX_HEADER_LINE {
                return Ok(None);
            }
            return Ok(Some(Err("a header line longer than 8 KiB".into())));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if headers > 0 {
                break;
            }
            continue;
        }
        headers += 1;
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                length = value.trim().parse().ok();
                if length.is_none() {
                    return Ok(Some(Err(format!("a bad Content-Length: {value:?}"))));
                }
            }
            Some(_) => {}
            None => return Ok(Some(Err(format!("a header without a colon: {text:?}")))),
        }
    }
    let Some(length) = length else {
        return Ok(Some(Err("a frame without Content-Length".into())));
    };
    if length > MAX_BODY {
        io::copy(&mut input.by_ref().take(length as u64), &mut io::sink())?;
        return Ok(Some(Err(format!(
            "a body of {length} bytes, over the limit"
        ))));
    }
    let mut body = vec![0; length];
    match input.read_exact(&mut body) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    Ok(Some(
        serde_json::from_slice::<Message>(&body).map_err(|e| format!("not an LSP message: {e}")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<Result<String, String>> {
        let mut r = io::Cursor::new(input.as_bytes().to_vec());
        let mut out = Vec::new();
        while let Some(m) = read_message(&mut r).expect("no I/O error") {
            out.push(m.map(|m| match m {
                Message::Request(r) => r.method,
                Message::Notification(n) => n.method,
                Message::Response(r) => format!("response {:?}", r.id),
            }));
        }
        out
    }

    #[test]
    fn bad_frames_are_skipped_and_reading_goes_on() {
        let exit = r#"{"jsonrpc":"2.0","method":"exit"}"#;
        let input = format!(
            "Content-Length: 5\r\n\r\n{{oops\
             garbage\r\n\
             Content-Length: 2\r\n\r\n[]\
             Content-Length: {}\r\nContent-Type: x\r\n\r\n{exit}\
             Content-Length: 999999999999\r\n\r\n{exit}",
            exit.len()
        );
        let got = frames(&input);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got[..3].iter().all(Result::is_err), "{got:?}");
        assert_eq!(got[3], Ok("exit".to_string()));
        assert!(got[4].is_err());
        // A frame cut off by the end of the input is the end.
        assert!(frames("Content-Length: 10\r\n\r\n{\"ab").is_empty());
    }
}
