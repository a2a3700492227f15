// The checker builds millions of small AST nodes across threads; glibc's
// per-thread arenas grow them a page at a time (an mprotect each), which was
// a sixth of `bplc check` on a large project.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bplc::cli::main()
}
