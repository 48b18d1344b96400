//! What every backend stores the same way: blobs compressed with zstd and
//! checked against their SHA-256 on the way in and out, the integers and
//! names of the domain types, and the checks refused before any write.
//! Keeping these in one place is what lets `chancery store copy` move a
//! history between backends byte for byte.

use super::{Attempt, NewCheck, StoreError};
use crate::hash::sha256_hex;
use crate::model::{ChangeKind, Outcome, Presence, Timestamp, WatchId};

/// Largest blob (uncompressed) the store writes or reads back. Far above any
/// sane page; a stored size beyond it can only be damage.
pub const MAX_BLOB_BYTES: u64 = 1 << 30;

/// zstd level for blobs. Level 1 writes the corpus's 105 real pages
/// 4.8 times smaller, level 3 (zstd's default) 5.1 times, at a third of
/// level 1's speed; compressing was 17% of a first-sight pass's CPU at
/// level 3 (perf). Blobs are written once per distinct body or text, so
/// the 5% of disk buys a cheaper first pass and edit.
const ZSTD_LEVEL: i32 = 1;

/// The two content-addressed blob tables.
#[derive(Debug, Clone, Copy)]
pub(super) enum BlobTable {
    /// Raw response bodies.
    Bodies,
    /// Normalized texts.
    Texts,
}

impl BlobTable {
    /// A name for messages ("body 3fa4…", "text 3fa4…").
    pub(super) fn noun(self) -> &'static str {
        match self {
            BlobTable::Bodies => "body",
            BlobTable::Texts => "text",
        }
    }
}

/// zstd's compression context, made for the first blob written and kept:
/// a fresh one per blob spent 4% of a first-sight pass resetting its
/// tables (callgrind, 1,000 new pages).
#[derive(Default)]
pub(super) struct Zstd(Option<zstd::bulk::Compressor<'static>>);

impl std::fmt::Debug for Zstd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Zstd(ready)"
        } else {
            "Zstd"
        })
    }
}

impl Zstd {
    pub(super) fn compress(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let compressor = match &mut self.0 {
            Some(c) => c,
            empty => empty.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(bytes)
    }
}

/// Checks a blob about to be written (its size and that `sha256` is its
/// hash) and compresses it: `(size, compressed)`. A blob that fails is
/// refused as [`StoreError::InvalidCheck`] of `watch_id`, before any write.
pub(super) fn encode_blob(
    zstd: &mut Zstd,
    table: BlobTable,
    watch_id: WatchId,
    sha256: &str,
    bytes: &[u8],
) -> Result<(i64, Vec<u8>), StoreError> {
    let invalid = |reason: String| StoreError::InvalidCheck { watch_id, reason };
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_BLOB_BYTES {
        return Err(invalid(format!(
            "{} {sha256} is {size} bytes, over the {MAX_BLOB_BYTES}-byte limit",
            table.noun()
        )));
    }
    let actual = sha256_hex(bytes);
    if actual != sha256 {
        return Err(invalid(format!(
            "{} given as {sha256} hashes to {actual}",
            table.noun()
        )));
    }
    let data = zstd
        .compress(bytes)
        .map_err(|source| StoreError::Compress {
            sha256: sha256.to_owned(),
            source,
        })?;
    Ok((to_sql_int(size), data))
}

/// Decompresses a stored blob. Every way it can be wrong is
/// [`StoreError::Corrupt`] naming the blob.
pub(super) fn decode_blob(
    table: BlobTable,
    sha256: &str,
    size: i64,
    data: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("{} {sha256}: {what}", table.noun()));
    let size = u64::try_from(size)
        .ok()
        .filter(|size| *size <= MAX_BLOB_BYTES)
        .and_then(|size| usize::try_from(size).ok())
        .ok_or_else(|| corrupt(format!("stored size {size} is out of range")))?;
    let bytes = zstd::bulk::decompress(data, size)
        .map_err(|err| corrupt(format!("cannot decompress: {err}")))?;
    if bytes.len() != size {
        return Err(corrupt(format!(
            "decompressed to {} bytes, stored size is {size}",
            bytes.len()
        )));
    }
    let actual = sha256_hex(&bytes);
    if actual != sha256 {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    Ok(bytes)
}

pub(super) fn decode_text(sha256: &str, size: i64, data: &[u8]) -> Result<String, StoreError> {
    let bytes = decode_blob(BlobTable::Texts, sha256, size, data)?;
    String::from_utf8(bytes)
        .map_err(|err| StoreError::Corrupt(format!("text {sha256}: not UTF-8: {err}")))
}

/// SQL integers are `i64`; counts and sizes here never come near the limit.
pub(super) fn to_sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn from_sql_int(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative {what}: {n}")))
}

pub(super) fn http_status(n: Option<i64>) -> Result<Option<u16>, StoreError> {
    n.map(|n| {
        u16::try_from(n).map_err(|_| StoreError::Corrupt(format!("http status {n} out of range")))
    })
    .transpose()
}

pub(super) fn parse_presence(s: &str) -> Result<Presence, StoreError> {
    Presence::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown watch presence {s:?}")))
}

pub(super) fn parse_outcome(s: &str) -> Result<Outcome, StoreError> {
    Outcome::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown check outcome {s:?}")))
}

pub(super) fn parse_kind(s: &str) -> Result<ChangeKind, StoreError> {
    ChangeKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown change kind {s:?}")))
}

/// Rejects a check that contradicts itself, before anything is written.
pub(super) fn validate(check: &NewCheck<'_>) -> Result<(), StoreError> {
    let invalid = |reason: String| {
        Err(StoreError::InvalidCheck {
            watch_id: check.watch_id,
            reason,
        })
    };
    let expected_kind = check.outcome.change_kind();
    let kind = check.change.as_ref().map(|change| change.kind);
    if kind != expected_kind {
        return invalid(format!(
            "outcome {} records change {}, got {}",
            check.outcome,
            expected_kind.map_or("none", ChangeKind::as_str),
            kind.map_or("none", ChangeKind::as_str),
        ));
    }
    if !check.alerts.is_empty() && check.change.is_none() {
        return invalid("alerts without a change".to_owned());
    }
    if let Some(event) = check.events.iter().find(|e| !e.kind.is_event()) {
        return invalid(format!("{} is not an event", event.kind));
    }
    if check.current && !(check.outcome.keeps_snapshot() || check.outcome == Outcome::Unchanged) {
        return invalid(format!(
            "outcome {} cannot move the current text",
            check.outcome
        ));
    }
    let needs_snapshot = check.outcome.keeps_snapshot();
    if needs_snapshot != check.snapshot.is_some() {
        return invalid(format!(
            "outcome {} {} a snapshot",
            check.outcome,
            if needs_snapshot {
                "needs"
            } else {
                "cannot have"
            }
        ));
    }
    if let (Some(body), Some(raw)) = (check.body, check.raw_sha256.as_deref())
        && body.sha256 != raw
    {
        return invalid(format!("body {} but raw_sha256 {raw}", body.sha256));
    }
    if let (Some(snapshot), Some(text)) = (check.snapshot, check.text_sha256.as_deref())
        && snapshot.sha256 != text
    {
        return invalid(format!(
            "snapshot {} but text_sha256 {text}",
            snapshot.sha256
        ));
    }
    Ok(())
}

/// What an attempt made at `at` sets on its alert: status, next attempt,
/// last error, delivered at.
pub(super) fn attempt_columns(
    attempt: &Attempt,
    at: Timestamp,
) -> (&'static str, Option<i64>, Option<&str>, Option<i64>) {
    match attempt {
        Attempt::Delivered => ("delivered", None, None, Some(at.0)),
        Attempt::Retry {
            error,
            next_attempt_at,
        } => (
            "pending",
            Some(next_attempt_at.0),
            Some(error.as_str()),
            None,
        ),
        Attempt::Failed { error } => ("failed", None, Some(error.as_str()), None),
    }
}
