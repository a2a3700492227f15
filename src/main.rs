fn main() -> std::process::ExitCode {
    bplc::cli::main()
}
