//! `chancery man [--out DIR]`: the manual page in roff, generated from the
//! same clap definition that parses the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::output::{out, outln};
use crate::cli::{Cli, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write chancery.1 and one chancery-<COMMAND>.1 per subcommand into DIR
    /// (instead of the top-level page on stdout)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            out!("{}", String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut written = Vec::new();
            write_pages(command, &dir, &mut written)?;
            for path in written {
                outln!("{}", path.display())?;
            }
        }
    }
    Ok(Exit::Success)
}

/// Writes the page of `command` and of each visible subcommand, depth
/// first, naming each file as `man` looks it up (`chancery-watch-add.1`).
fn write_pages(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    let path = clap_mangen::Man::new(command)
        .generate_to(dir)
        .with_context(|| format!("cannot write a man page into {}", dir.display()))?;
    written.push(path);
    Ok(())
}
