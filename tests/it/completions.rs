//! Completion scripts and man pages, generated from the clap definitions:
//! every shell gets a script that knows the subcommands, bash accepts its
//! script, and the man page is roff that names the subcommands.

use std::path::Path;
use std::process::Command;

use crate::support::run_binary;

fn chancery(args: &[&str], cwd: &Path) -> crate::support::Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_binary(&args, cwd)
}

#[test]
fn completion_scripts_know_the_subcommands() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = chancery(&["completions", shell], dir.path()).ok();
        for word in ["history", "diff", "watch", "completions"] {
            assert!(run.stdout.contains(word), "{shell} lacks {word}:\n{run:?}");
        }
        assert!(run.stderr.is_empty(), "{run:?}");
    }
    let run = chancery(&["completions", "tcsh"], dir.path());
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn bash_accepts_the_bash_script() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = chancery(&["completions", "bash"], dir.path()).ok();
    let has_bash = Command::new("bash").arg("--version").output().is_ok();
    if !has_bash {
        return;
    }
    let script = dir.path().join("chancery.bash");
    std::fs::write(&script, &run.stdout).expect("write script");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = chancery(&["man"], dir.path()).ok();
    // clap_mangen defines a quote string first; the title comes next.
    let th = run
        .stdout
        .lines()
        .position(|l| l.starts_with(".TH chancery 1"))
        .unwrap_or_else(|| panic!("no .TH header:\n{run:?}"));
    assert!(
        run.stdout
            .lines()
            .take(th)
            .all(|l| l.starts_with(".ie") || l.starts_with(".el")),
        "only string definitions before .TH:\n{run:?}"
    );
    for sub in ["run", "history", "diff", "watch", "completions"] {
        assert!(
            run.stdout.contains(&format!("chancery\\-{sub}(1)")),
            "no {sub}:\n{run:?}"
        );
    }

    let pages = dir.path().join("man1");
    let run = chancery(
        &["man", "--out", pages.to_str().expect("utf-8")],
        dir.path(),
    )
    .ok();
    for page in [
        "chancery.1",
        "chancery-history.1",
        "chancery-config-check.1",
    ] {
        let path = pages.join(page);
        assert!(path.is_file(), "no {page}:\n{run:?}");
        assert!(run.stdout.contains(&path.display().to_string()), "{run:?}");
        let text = std::fs::read_to_string(&path).expect("read page");
        assert!(text.contains(".TH "), "{page}: {text}");
    }
}
