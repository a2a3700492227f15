//! Any text as a one-file project: parsed, checked, lowered to jobs and
//! SQL, formatted, and every diagnostic drawn as `bplc check` draws it.
//! None of it may panic or overflow the stack.

#![no_main]

use bplc::diagnostic::Level;
use bplc::syntax::span::FileId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // On a thread with the stack the CLI gives the front end.
    std::thread::scope(|scope| {
        bplc::syntax::spawn_scoped(scope, || front_end(text))
            .join()
            .expect("the front end does not panic")
    });
});

fn front_end(text: &str) {
    let project = bplc::project::from_sources(Default::default(), [("fuzz.bpl", text)]);
    let checked = bplc::driver::compile_project(project);
    for d in &checked.diagnostics {
        let _ = bplc::cli::render::text(&checked.project.sources, d, false);
        let _ = bplc::cli::render::JsonDiagnostic::new(&checked.project.sources, d);
    }
    let clean = !checked.diagnostics.iter().any(|d| d.level == Level::Error);
    if let (true, Some(program)) = (clean, &checked.program) {
        for dataset in program.datasets() {
            if let Ok(plan) = bplc::plan::JobPlan::build(program, &dataset.name) {
                let _ = bplc::runtime::engine::sqlite::lower(&plan);
            }
        }
    }
    // The formatter, and the formatter on its own output.
    if let Ok(formatted) = bplc::syntax::fmt::format(FileId(0), text) {
        let _ = bplc::syntax::fmt::format(FileId(0), &formatted);
    }
}
