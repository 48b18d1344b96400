//! Evidence export: a watch's stored responses as a standard WARC 1.1 file
//! that anyone can check with common tools, without chancery.
//!
//! Per stored response: a `request` record (the request line and the headers
//! chancery set), a `response` record (status line, headers, body), and a
//! `conversion` record with the normalized text, whose digest is the text
//! SHA-256 that `chancery history` shows and `WARC-Refers-To` the response.
//! The response's payload digest is the raw SHA-256 of the history.
//! Checks recorded before heads were kept become `resource` records, and
//! so do rendered pages (`render = "browser"`: the body is the DOM after
//! the page's scripts, which no server sent), marked
//! `Chancery-Rendered-By` and followed by a `metadata` record with the
//! main document's response head as the browser reported it.
//!
//! The body is stored decoded (gzip etc. undone), so the archived head says
//! so: see [`warc::decoded_response_head`]. Only checks whose body is in
//! the store are exported: bodies are kept with snapshots, so an unchanged
//! check whose bytes differ from every kept body has nothing to export.

pub mod warc;

use std::io::Write;

use crate::hash::sha256_hex;
use crate::model::Timestamp;
use crate::store::{Store, StoreError, StoredResponse};
use warc::{Record, RecordId, WarcWriter, decoded_response_head, sha256_label};

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Responses exported (each one `request`+`response`+`conversion`; a
    /// `resource` and `conversion` for an old check; `resource`, `metadata`
    /// and `conversion` for a rendered page).
    pub responses: u64,
    /// Checks with a response but no stored body, left out.
    pub skipped: u64,
    /// WARC records, the `warcinfo` included.
    pub records: u64,
    /// Bytes of the (compressed) file.
    pub bytes: u64,
}

/// What the export is of, for the `warcinfo` record.
#[derive(Debug, Clone)]
pub struct ExportSource<'a> {
    pub watch: &'a str,
    pub url: &'a str,
    pub since: Option<Timestamp>,
    /// The file name, for `WARC-Filename`.
    pub filename: &'a str,
    /// When the export is made.
    pub now: Timestamp,
}

/// An export that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the WARC file")]
    Write(#[source] std::io::Error),
    #[error("watch {watch:?} has no stored response{}", since_text(*.since))]
    Nothing {
        watch: String,
        since: Option<Timestamp>,
    },
    /// The history contradicts itself: exporting it would misstate it.
    #[error("stored data is inconsistent: {0}")]
    Inconsistent(String),
}

fn since_text(since: Option<Timestamp>) -> String {
    since.map_or_else(String::new, |t| format!(" since {t}"))
}

/// Writes the export of `source.watch` to `out`. Nothing is written when
/// there is nothing to export (the caller can then leave no file).
pub fn write_warc<W: Write>(
    store: &dyn Store,
    source: &ExportSource<'_>,
    out: W,
) -> Result<(ExportSummary, W), ExportError> {
    let nothing = || ExportError::Nothing {
        watch: source.watch.to_owned(),
        since: source.since,
    };
    // A configured watch that was never checked is not in the store yet:
    // for the user that is "nothing stored", not an unknown name.
    let responses = match store.responses(source.watch, source.since) {
        Err(StoreError::UnknownWatch(_)) => return Err(nothing()),
        other => other?,
    };
    let (stored, skipped): (Vec<_>, Vec<_>) = responses
        .into_iter()
        .partition(|r| r.body_stored && r.raw_sha256.is_some());
    if stored.is_empty() {
        return Err(nothing());
    }
    let mut writer = WarcWriter::new(out);
    write_warcinfo(&mut writer, source, stored.len())?;
    for response in &stored {
        write_response(&mut writer, store, source.watch, response)?;
    }
    let summary = ExportSummary {
        responses: stored.len() as u64,
        skipped: skipped.len() as u64,
        records: writer.records(),
        bytes: writer.bytes(),
    };
    Ok((summary, writer.into_inner()))
}

fn write_warcinfo<W: Write>(
    writer: &mut WarcWriter<W>,
    source: &ExportSource<'_>,
    n_responses: usize,
) -> Result<(), ExportError> {
    let mut info = format!(
        "software: chancery/{}\r\n\
         format: WARC File Format 1.1\r\n\
         conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n\
         description: chancery evidence export of watch {:?} ({}): {n_responses} stored \
         responses with their normalized texts. Bodies are stored after content decoding; \
         the original Content-Encoding, Transfer-Encoding and Content-Length are kept as \
         X-Chancery-Original-* headers. Request records list the headers chancery set.\r\n\
         chancery-watch: {}\r\n\
         chancery-url: {}\r\n",
        env!("CARGO_PKG_VERSION"),
        source.watch,
        source.url,
        source.watch,
        source.url,
    );
    if let Some(since) = source.since {
        info.push_str(&format!("chancery-since: {since}\r\n"));
    }
    let id = RecordId::random();
    writer
        .write(&Record {
            warc_type: "warcinfo",
            id: &id,
            date: source.now,
            fields: vec![
                ("WARC-Filename", source.filename.to_owned()),
                ("Content-Type", "application/warc-fields".to_owned()),
            ],
            block: &[info.as_bytes()],
        })
        .map_err(ExportError::Write)
}

fn write_response<W: Write>(
    writer: &mut WarcWriter<W>,
    store: &dyn Store,
    watch: &str,
    response: &StoredResponse,
) -> Result<(), ExportError> {
    let check = response.check_id;
    let inconsistent = |what: String| ExportError::Inconsistent(format!("check {check}: {what}"));
    let raw_sha256 = response
        .raw_sha256
        .as_deref()
        .ok_or_else(|| inconsistent("no raw body hash".to_owned()))?;
    let body = store
        .raw_body(raw_sha256)?
        .ok_or_else(|| inconsistent(format!("body {raw_sha256} is gone")))?;
    let target_uri = response
        .final_url
        .clone()
        .ok_or_else(|| inconsistent("no URL".to_owned()))?;
    let payload_digest = sha256_label(raw_sha256);
    let response_id = RecordId::random();
    let linked = |fields: Vec<(&'static str, String)>| {
        let mut all = vec![("WARC-Target-URI", target_uri.clone())];
        all.extend(fields);
        all
    };
    match &response.heads {
        // A rendered page: the body is the DOM after the page's scripts,
        // which no server sent, so it is a `resource` (what chancery saw),
        // with the main document's response head beside it as `metadata`.
        Some(heads) if heads.rendered_by.is_some() => {
            let ip = heads.remote_ip.clone().map(|ip| ("WARC-IP-Address", ip));
            let rendered_by = heads.rendered_by.clone().unwrap_or_default();
            let mut fields = linked(vec![
                ("Content-Type", "text/html; charset=utf-8".to_owned()),
                ("WARC-Payload-Digest", payload_digest),
                ("Chancery-Check-Id", check.to_string()),
                ("Chancery-Rendered-By", rendered_by),
            ]);
            fields.extend(ip);
            writer
                .write(&Record {
                    warc_type: "resource",
                    id: &response_id,
                    date: heads.requested_at,
                    fields,
                    block: &[&body],
                })
                .map_err(ExportError::Write)?;
            writer
                .write(&Record {
                    warc_type: "metadata",
                    id: &RecordId::random(),
                    date: heads.requested_at,
                    fields: linked(vec![
                        ("WARC-Refers-To", response_id.as_str().to_owned()),
                        (
                            "Content-Type",
                            "application/http;msgtype=response".to_owned(),
                        ),
                    ]),
                    block: &[&heads.response_head],
                })
                .map_err(ExportError::Write)?;
        }
        Some(heads) => {
            let request_id = RecordId::random();
            let ip = heads.remote_ip.clone().map(|ip| ("WARC-IP-Address", ip));
            let mut request_fields = linked(vec![
                ("WARC-Concurrent-To", response_id.as_str().to_owned()),
                (
                    "Content-Type",
                    "application/http;msgtype=request".to_owned(),
                ),
            ]);
            request_fields.extend(ip.clone());
            writer
                .write(&Record {
                    warc_type: "request",
                    id: &request_id,
                    date: heads.requested_at,
                    fields: request_fields,
                    block: &[&heads.request_head],
                })
                .map_err(ExportError::Write)?;
            let head = decoded_response_head(&heads.response_head, body.len());
            let mut response_fields = linked(vec![
                ("WARC-Concurrent-To", request_id.as_str().to_owned()),
                (
                    "Content-Type",
                    "application/http;msgtype=response".to_owned(),
                ),
                ("WARC-Payload-Digest", payload_digest),
                ("Chancery-Check-Id", check.to_string()),
            ]);
            response_fields.extend(ip);
            writer
                .write(&Record {
                    warc_type: "response",
                    id: &response_id,
                    date: heads.requested_at,
                    fields: response_fields,
                    block: &[&head, &body],
                })
                .map_err(ExportError::Write)?;
        }
        None => {
            let content_type = response
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            writer
                .write(&Record {
                    warc_type: "resource",
                    id: &response_id,
                    date: response.started_at,
                    fields: linked(vec![
                        ("Content-Type", content_type),
                        ("WARC-Payload-Digest", payload_digest),
                        ("Chancery-Check-Id", check.to_string()),
                    ]),
                    block: &[&body],
                })
                .map_err(ExportError::Write)?;
        }
    }
    let Some(snapshot_id) = response.snapshot_id else {
        return Ok(());
    };
    let snapshot = store
        .snapshot(watch, Some(snapshot_id))?
        .ok_or_else(|| inconsistent(format!("snapshot #{snapshot_id} is gone")))?;
    if response.text_sha256.as_deref() != Some(snapshot.meta.sha256.as_str()) {
        return Err(inconsistent(format!(
            "text hash {:?} differs from snapshot #{snapshot_id}'s {}",
            response.text_sha256, snapshot.meta.sha256
        )));
    }
    // The store verified the text against its hash; recomputing here costs
    // little and keeps the file honest even with another Store backend.
    let text_sha256 = sha256_hex(snapshot.text.as_bytes());
    if text_sha256 != snapshot.meta.sha256 {
        return Err(inconsistent(format!(
            "snapshot #{snapshot_id} text hashes to {text_sha256}"
        )));
    }
    let date = response
        .heads
        .as_ref()
        .map_or(response.started_at, |h| h.requested_at);
    writer
        .write(&Record {
            warc_type: "conversion",
            id: &RecordId::random(),
            date,
            fields: linked(vec![
                ("WARC-Refers-To", response_id.as_str().to_owned()),
                ("Content-Type", "text/plain; charset=utf-8".to_owned()),
                ("WARC-Payload-Digest", sha256_label(&text_sha256)),
                ("Chancery-Snapshot-Id", snapshot_id.to_string()),
            ]),
            block: &[snapshot.text.as_bytes()],
        })
        .map_err(ExportError::Write)
}
