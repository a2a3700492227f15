//! Standard output and standard error of every command. A reader that goes
//! away (`bplc runs | head -5`, `bplc show RUN | true`) ends the output, not
//! the command: the rest of the output is dropped, the command finishes its
//! work and exits with its own code. (`println!` panics there, exit 101, and
//! maybe in the middle of a run.) Any other failure to write (a full disk
//! under `> file`) is reported once, and the command exits with 2.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a write failed for another reason than a closed pipe.
static FAILED: AtomicBool = AtomicBool::new(false);

/// A stream whose closed pipe ends the output quietly.
pub struct Quiet<W: Write> {
    inner: W,
    closed: &'static AtomicBool,
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

pub fn stdout() -> Quiet<io::StdoutLock<'static>> {
    Quiet {
        inner: io::stdout().lock(),
        closed: &STDOUT_CLOSED,
    }
}

pub fn stderr() -> Quiet<io::StderrLock<'static>> {
    Quiet {
        inner: io::stderr().lock(),
        closed: &STDERR_CLOSED,
    }
}

/// Whether some output could not be written (a closed pipe aside).
pub fn failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

impl<W: Write> Quiet<W> {
    fn outcome<T>(&self, result: io::Result<T>, all: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(all)
            }
            Err(e) => {
                if !FAILED.swap(true, Ordering::Relaxed)
                    && !std::ptr::eq(self.closed, &STDERR_CLOSED)
                {
                    let _ = writeln!(stderr(), "error: cannot write output: {e}");
                }
                self.closed.store(true, Ordering::Relaxed);
                Ok(all)
            }
            ok => ok,
        }
    }
}

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.outcome(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.inner.flush();
        self.outcome(result, ())
    }
}

/// What `print!` does, through [`stdout`].
pub fn print(args: fmt::Arguments<'_>) {
    let _ = stdout().write_fmt(args);
}

/// What `eprint!` does, through [`stderr`].
pub fn eprint(args: fmt::Arguments<'_>) {
    let _ = stderr().write_fmt(args);
}
