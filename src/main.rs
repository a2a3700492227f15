// The checker builds millions of small AST nodes across threads; glibc's
// per-thread arenas grow them a page at a time (an mprotect each), which was
// a sixth of `bplc check` on a large project.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

/// The exit code of a panic, as the standard library's own main gives.
const EXIT_PANIC: u8 = 101;

fn main() -> ExitCode {
    // SAFETY: no other thread exists yet, and no connection is open.
    unsafe { bplc::runtime::engine::sqlite::configure_process() };
    // On a thread with the front end's stack: the main thread's size is
    // whatever the system gives (`ulimit -s`), which may be smaller.
    let cli = std::thread::Builder::new()
        .name("bplc".into())
        .stack_size(bplc::syntax::STACK_SIZE)
        .spawn(bplc::cli::main);
    match cli {
        Ok(thread) => thread.join().unwrap_or(ExitCode::from(EXIT_PANIC)),
        // No thread to be had: run here, with the stack there is.
        Err(_) => bplc::cli::main(),
    }
}
