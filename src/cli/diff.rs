//! `chancery diff WATCH [FROM] [TO]`: render how the text changed.

use std::path::Path;

use crate::cli::output::{known_watch, load_config_readonly, open_existing_store, out, outln};
use crate::cli::{ColorChoice, Exit, UsageError};
use crate::diff::{Format, RenderOptions, render};
use crate::model::{ChangeKind, SnapshotId};
use crate::store::{Snapshot, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name
    watch: String,
    /// Old snapshot id (default: the one before the latest change)
    from: Option<SnapshotId>,
    /// New snapshot id (default: the latest snapshot when FROM is given)
    to: Option<SnapshotId>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Unified)]
    format: Format,
    /// Unchanged lines shown around each change
    #[arg(long, short = 'U', value_name = "N", default_value_t = 3)]
    context: usize,
    /// Total width for side-by-side
    #[arg(long, value_name = "COLUMNS", default_value_t = 120)]
    width: usize,
    /// When to colour the output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

pub fn run(config_path: Option<&Path>, args: Args) -> anyhow::Result<Exit> {
    let config = load_config_readonly(config_path)?;
    let store = open_existing_store(&config)?;
    let store = &*store;
    let mut args = args;
    args.watch = known_watch(&config, store, &args.watch)?;
    if store.watch_state(&args.watch)?.is_none() {
        // In the config, never checked.
        outln!(
            "{}: nothing to compare yet: no check has recorded its text",
            args.watch
        )?;
        return Ok(Exit::Success);
    }
    let mut latest = None;
    let (old, new, removed) = match (args.from, args.to) {
        (None, _) => {
            let Some(change) = store.changes(&args.watch, Some(1))?.into_iter().next() else {
                outln!(
                    "{}: nothing to compare yet: no check has recorded its text",
                    args.watch
                )?;
                return Ok(Exit::Success);
            };
            latest = Some((change.kind, change.detected_at));
            let old = change
                .from
                .map(|id| load(store, &args.watch, id))
                .transpose()?;
            let new = change
                .to
                .map(|id| load(store, &args.watch, id))
                .transpose()?;
            (old, new, change.kind == ChangeKind::Removed)
        }
        (Some(from), to) => {
            let old = load(store, &args.watch, from)?;
            let new = match to {
                Some(id) => load(store, &args.watch, id)?,
                None => store
                    .snapshot(&args.watch, None)?
                    .ok_or_else(|| UsageError(format!("watch {:?} has no snapshot", args.watch)))?,
            };
            (Some(old), Some(new), false)
        }
    };
    let label = |s: &Option<Snapshot>, absent: &str| match s {
        Some(s) => format!("{}@{} ({})", args.watch, s.meta.id, s.meta.fetched_at),
        None => format!("{}@{absent}", args.watch),
    };
    let options = RenderOptions {
        color: args.format != Format::Json && args.color.enabled(),
        context_lines: args.context,
        width: args.width.max(20),
        old_label: label(&old, "none"),
        new_label: label(&new, if removed { "removed" } else { "none" }),
    };
    let text = |s: &Option<Snapshot>| s.as_ref().map_or("", |s| s.text.as_str()).to_owned();
    let rendered = render(&text(&old), &text(&new), args.format, &options);
    if rendered.is_empty()
        && let (Some(old), Some(new)) = (&old, &new)
    {
        // Text formats print nothing for equal texts; say so instead.
        let what = match latest {
            Some((kind, at)) if old.meta.id == new.meta.id => format!(
                "the latest change ({kind}, {at}) brought back snapshot {}, the text it had before",
                old.meta.id
            ),
            Some((kind, at)) => format!(
                "the latest change ({kind}, {at}) brought back the text of snapshot {}: snapshot {} is identical",
                old.meta.id, new.meta.id
            ),
            None if old.meta.id == new.meta.id => {
                format!("snapshot {} compared with itself", old.meta.id)
            }
            None => format!(
                "snapshots {} and {} have identical texts",
                old.meta.id, new.meta.id
            ),
        };
        outln!(
            "{}: no difference: {what} (sha256 {})",
            args.watch,
            new.meta.sha256
        )?;
        return Ok(Exit::Success);
    }
    out!("{rendered}")?;
    Ok(Exit::Success)
}

fn load(store: &dyn Store, watch: &str, id: SnapshotId) -> anyhow::Result<Snapshot> {
    store
        .snapshot(watch, Some(id))?
        .ok_or_else(|| UsageError(format!("watch {watch:?} has no snapshot {id}")).into())
}
