//! The README's command reference against the command line itself: every
//! command and every flag `--help` shows is in the README's tables, and
//! every command the tables name exists. The clap definition is what
//! `--help` prints, so the test reads it directly.

use clap::CommandFactory;

/// The first cells of the rows of the README's command tables (those
/// headed `| command | what it does |`):
/// `` `history WATCH [-n N] [--checks N] [--json]` ``.
fn documented() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut in_table = false;
    let mut cells = Vec::new();
    for line in readme.lines() {
        if line.starts_with("| command |") {
            in_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if let Some(rest) = line.strip_prefix("| `").filter(|_| in_table)
            && let Some(cell) = rest.split(" |").next()
        {
            cells.push(format!("`{cell}"));
        }
    }
    assert!(
        cells.len() > 10,
        "the command tables were not found: {cells:?}"
    );
    cells
}

/// A flag as the README may write it: its long form, and its short one.
type Flag = (String, Option<String>);

/// Every command path (`outbox`, `outbox retry`, `notify test`) with its
/// flags and whether it is a group of subcommands.
fn commands() -> Vec<(String, Vec<Flag>, bool)> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<Flag>, bool)>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let path = if prefix.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{prefix} {}", sub.get_name())
            };
            let flags = sub
                .get_arguments()
                .filter(|a| !a.is_global_set() && !a.is_hide_set())
                .filter_map(|a| Some((a.get_long()?, a.get_short())))
                .filter(|(l, _)| !matches!(*l, "help" | "version" | "config"))
                .map(|(l, s)| (format!("--{l}"), s.map(|s| format!("-{s}"))))
                .collect();
            let group = sub.get_subcommands().any(|s| s.get_name() != "help");
            out.push((path.clone(), flags, group));
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&chancery::cli::Cli::command(), "", &mut out);
    out
}

/// The rows documenting `path`: their first cell starts with it.
fn rows_for<'a>(rows: &'a [String], path: &str) -> Vec<&'a String> {
    rows.iter()
        .filter(|cell| {
            let rest = &cell[1..];
            rest.strip_prefix(path)
                .is_some_and(|after| after.is_empty() || after.starts_with([' ', '`', ',']))
        })
        .collect()
}

#[test]
fn every_command_and_flag_in_help_is_in_the_readme() {
    let rows = documented();
    let mut missing = Vec::new();
    for (path, flags, group) in commands() {
        let found = rows_for(&rows, &path);
        if found.is_empty() {
            // A group is documented through its subcommands.
            if !group {
                missing.push(format!("command `{path}`"));
            }
            continue;
        }
        for (long, short) in flags {
            let written = |cell: &&String| {
                cell.contains(&long)
                    || short.as_ref().is_some_and(|s| {
                        cell.contains(&format!("[{s} "))
                            || cell.contains(&format!("[{s}]"))
                            || cell.contains(&format!("{s}|"))
                    })
            };
            if !found.iter().any(written) {
                missing.push(format!("`{path} {long}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "in --help but not in the README's command tables: {missing:?}"
    );
}

#[test]
fn every_command_in_the_readme_exists() {
    let known: Vec<String> = commands().into_iter().map(|(p, _, _)| p).collect();
    let rows = documented();
    let stale: Vec<&String> = rows
        .iter()
        .filter(|cell| {
            let first = cell[1..].split([' ', '`']).next().unwrap_or("");
            !known.iter().any(|k| k == first)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "README rows for commands that do not exist: {stale:?}"
    );
}
