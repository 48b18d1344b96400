//! The `chancery` binary: parse arguments, set up logging, run, and map the
//! result to an exit status (0 ok, 1 a check or the work failed, 2 usage or
//! config error). Errors are printed once, on one line, on stderr.

use std::process::ExitCode;

use chancery::cli::{self, Cli, Exit};
use clap::Parser;

/// Parsing HTML is mostly small allocations: jemalloc normalizes about as
/// fast as mimalloc and faster than glibc's malloc, at a fraction of
/// mimalloc's peak memory in the daemon (README, Benchmarks).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    chancery::logging::init(cli.command.default_log_level());
    match cli::run(cli) {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::SomeFailed) => ExitCode::from(1),
        // A reader that stopped reading (`chancery history W | head -1`)
        // is not an error: end quietly, as Unix tools do.
        Err(err) if cli::closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chancery: {err:#}");
            ExitCode::from(cli::exit_code_for(&err))
        }
    }
}
