//! `chancery completions SHELL`: a completion script generated from the
//! same clap definition that parses the command line, so it never lists a
//! subcommand or flag that does not exist.

use clap::CommandFactory;

use crate::cli::output::out;
use crate::cli::{Cli, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write the script for
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "chancery", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(Exit::Success)
}
