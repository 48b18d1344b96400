//! `chancery list`: every watch with its last check and last change.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::cli::Exit;
use crate::cli::output::{aligned, load_config_readonly, open_store_if_exists, outln, print_json};
use crate::model::{ChangeKind, ChildState, Outcome, Presence, Timestamp};
use crate::store::WatchSummary;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the list as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    url: String,
    /// False for watches that are in the history but no longer in the config.
    in_config: bool,
    presence: Presence,
    /// What the page is now: `ok`, `blocked`, `error`, `removed`,
    /// `failing`, or `new` (never checked).
    state: State,
    last_check_at: Option<Timestamp>,
    last_outcome: Option<Outcome>,
    /// The last change (not a baseline or health event) and its kind.
    last_change_at: Option<Timestamp>,
    last_change: Option<ChangeKind>,
    n_changes: u64,
    n_checks: u64,
    /// Reported `failing`: every check has failed for `failing_after`.
    failing: bool,
    /// Start of the current run of failed checks, if the last one failed.
    failing_since: Option<Timestamp>,
    /// For a follow watch's child: its parent and listing state.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listing_state: Option<&'static str>,
    /// For a follow watch: its children by listing state.
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<ChildCounts>,
}

pub(super) use crate::store::Standing as State;

/// How many children a follow watch has, by listing state.
#[derive(Serialize, Default)]
struct ChildCounts {
    listed: usize,
    scrolled_off: usize,
    delisted: usize,
    retired: usize,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let summaries: Vec<WatchSummary> = match open_store_if_exists(&config)? {
        Some(store) => store.watches()?,
        None => Vec::new(),
    };
    let mut rows: Vec<Row> = config
        .watches
        .iter()
        .map(|w| match summaries.iter().find(|s| s.name == w.name) {
            Some(s) => row(s, true),
            None => Row {
                name: w.name.clone(),
                url: w.url.to_string(),
                in_config: true,
                presence: Presence::New,
                state: State::New,
                last_check_at: None,
                last_outcome: None,
                last_change_at: None,
                last_change: None,
                n_changes: 0,
                n_checks: 0,
                failing: false,
                failing_since: None,
                parent: None,
                listing_state: None,
                children: None,
            },
        })
        .collect();
    rows.extend(
        summaries
            .iter()
            .filter(|s| config.watch(&s.name).is_none() && s.parent.is_none())
            .map(|s| row(s, false)),
    );
    // Children right after their parent.
    let mut by_parent: HashMap<&str, Vec<&WatchSummary>> = HashMap::new();
    for s in &summaries {
        if let Some(parent) = s.parent.as_deref() {
            by_parent.entry(parent).or_default().push(s);
        }
    }
    let mut ordered = Vec::with_capacity(summaries.len());
    for mut parent in rows {
        let kids = by_parent.remove(parent.name.as_str()).unwrap_or_default();
        if !kids.is_empty()
            || config
                .watch(&parent.name)
                .is_some_and(|w| w.follow.is_some())
        {
            let mut counts = ChildCounts::default();
            for kid in &kids {
                match kid.child_state {
                    Some(ChildState::Listed) => counts.listed += 1,
                    Some(ChildState::ScrolledOff) => counts.scrolled_off += 1,
                    Some(ChildState::Delisted) => counts.delisted += 1,
                    Some(ChildState::Retired) | None => counts.retired += 1,
                }
            }
            parent.children = Some(counts);
        }
        let children: Vec<Row> = kids.iter().map(|s| row(s, parent.in_config)).collect();
        ordered.push(parent);
        ordered.extend(children);
    }
    let rows = ordered;
    if args.json {
        print_json(&rows)?;
        return Ok(Exit::Success);
    }
    let mut table = vec![
        [
            "NAME",
            "STATE",
            "LAST CHECK",
            "LAST CHANGE",
            "CHANGES",
            "URL",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in &rows {
        let when = |t: Option<Timestamp>| t.map_or_else(|| "never".to_owned(), |t| t.rfc3339());
        let mut url = if r.in_config || r.parent.is_some() {
            r.url.clone()
        } else {
            format!("{} (not in config)", r.url)
        };
        if let Some(c) = &r.children {
            url.push_str(&format!(
                " ({} children: {} listed, {} scrolled off, {} delisted, {} retired)",
                c.listed + c.scrolled_off + c.delisted + c.retired,
                c.listed,
                c.scrolled_off,
                c.delisted,
                c.retired
            ));
        }
        if let Some(state) = r.listing_state
            && state != "listed"
        {
            url.push_str(&format!(" ({state})"));
        }
        let name = if r.parent.is_some() {
            format!("  {}", r.name)
        } else {
            r.name.clone()
        };
        let last_change = match (r.last_change_at, r.last_change) {
            (Some(at), Some(kind)) => format!("{} {kind}", at.rfc3339()),
            (Some(at), None) => at.rfc3339(),
            (None, _) => "never".to_owned(),
        };
        table.push(vec![
            name,
            r.state.as_str().to_owned(),
            when(r.last_check_at),
            last_change,
            r.n_changes.to_string(),
            url,
        ]);
    }
    for line in aligned(&table) {
        outln!("{line}")?;
    }
    Ok(Exit::Success)
}

fn row(s: &WatchSummary, in_config: bool) -> Row {
    Row {
        name: s.name.clone(),
        url: s.url.clone(),
        in_config,
        presence: s.presence,
        state: State::of(s),
        last_check_at: s.last_check_at,
        last_outcome: s.last_outcome,
        last_change_at: s.last_change_at,
        last_change: s.last_change_kind,
        n_changes: s.n_changes,
        n_checks: s.n_checks,
        failing: s.failing_reported,
        failing_since: s.failing_since,
        parent: s.parent.clone(),
        listing_state: s.child_state.map(ChildState::as_str),
        children: None,
    }
}
