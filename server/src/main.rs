//! The `meterbook` binary.

fn main() -> std::process::ExitCode {
    meterbook_server::cli::main()
}
