//! The project the `check_project` benchmark times must be a project with
//! no diagnostics, or the benchmark would time error reporting instead of
//! checking. This generates a small one with the same generator and checks
//! it through the same entry point, `bplc::driver::check`.

#[path = "../benches/generator/mod.rs"]
mod generator;

use bplc::cli::render;

fn check_generated(spec: generator::Spec) -> generator::Summary {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let summary = generator::write(dir.path(), spec).expect("the project is written");
    let checked = bplc::driver::check(dir.path()).expect("the project loads");
    let rendered: Vec<String> = checked
        .diagnostics
        .iter()
        .take(5)
        .map(|d| render::text(&checked.project.sources, d, false))
        .collect();
    assert!(
        checked.diagnostics.is_empty(),
        "the generated project has {} diagnostics, the first:\n{}",
        checked.diagnostics.len(),
        rendered.join("\n")
    );
    let program = checked.program.expect("a checked program");
    assert_eq!(program.datasets().count(), spec.datasets);
    summary
}

#[test]
fn a_small_generated_project_checks_clean() {
    let summary = check_generated(generator::Spec {
        datasets: 50,
        files: 5,
        seed: 7,
    });
    assert_eq!(
        summary.files,
        5 + 2,
        "five dataset files, sources, references"
    );
    assert!(
        summary.edges >= 50,
        "every dataset reads at least one input"
    );
}

#[test]
fn other_seeds_check_clean_too() {
    // Several seeds and sizes, so every shape (windows, roll-ups, fan-in,
    // sources deep in the graph) appears at least once.
    for seed in 1..=4 {
        check_generated(generator::Spec {
            datasets: 300,
            files: 3,
            seed,
        });
    }
}

#[test]
fn generation_is_deterministic() {
    let spec = generator::Spec::new(120);
    let (a, _) = generator::generate(spec);
    let (b, _) = generator::generate(spec);
    assert_eq!(a, b);
    let (c, _) = generator::generate(generator::Spec { seed: 1, ..spec });
    assert_ne!(a, c, "a different seed gives a different project");
}

#[test]
fn datasets_are_of_realistic_size() {
    let spec = generator::Spec::new(1_000);
    let (_, summary) = generator::generate(spec);
    let per_dataset = summary.lines / summary.datasets;
    assert!(
        (25..=60).contains(&per_dataset),
        "{per_dataset} lines per dataset"
    );
}
