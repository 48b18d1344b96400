//! Atom 1.0 feeds of changes: `/feed.atom` (every watch) and
//! `/w/<name>/feed.atom` (one). Entry ids derive from change ids and never
//! change; `updated` is when the change was detected; the summary is the
//! changed words in their sentence, as in the alerts; the entry links to
//! the change page.

use std::str::FromStr;

use atom_syndication::{Entry, Feed, FixedDateTime, Generator, Link, Person, Text};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::View;
use super::pages::watch_href;
use crate::model::Timestamp;
use crate::store::{ChangeDetail, Store, StoreError};

/// Entries in a feed: the newest changes.
const ENTRIES: usize = 50;
/// Changed places quoted in one entry's summary.
const EXCERPTS: usize = 3;

/// One entry's parts, read from the store.
struct Item {
    detail: ChangeDetail,
    summary: String,
}

fn datetime(t: Timestamp) -> FixedDateTime {
    FixedDateTime::from_str(&t.rfc3339()).unwrap_or_default()
}

/// The base URL links are made from: `[web] base_url`, else the request's
/// own host (the view is read on the address it is served at).
fn base(view: &View, headers: &HeaderMap) -> String {
    if let Some(base) = view.config.web.as_ref().and_then(|w| w.base_url.as_ref()) {
        return base.as_str().trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The summary of a change: its changed places in their sentences, or for
/// a removal what was last there.
fn summarize(store: &dyn Store, detail: &ChangeDetail) -> Result<String, StoreError> {
    let c = &detail.change;
    let text = |id| -> Result<Option<String>, StoreError> {
        Ok(match id {
            Some(id) => store.snapshot(&detail.watch, Some(id))?.map(|s| s.text),
            None => None,
        })
    };
    let (before, after) = (text(c.from)?, text(c.to)?);
    let headline = c.summary.first_change.clone().unwrap_or_default();
    Ok(match (before, after) {
        (Some(before), Some(after)) => {
            let (changes, total) = crate::diff::changes(&before, &after, EXCERPTS);
            let mut parts: Vec<String> = changes.iter().map(|ch| ch.context()).collect();
            if total > changes.len() {
                parts.push(format!("… and {} more", total - changes.len()));
            }
            if parts.is_empty() {
                headline
            } else {
                parts.join("\n")
            }
        }
        (Some(_), None) => format!("The statement is no longer on the page. {headline}"),
        _ => headline,
    })
}

/// A feed of `watch`'s changes, or of every watch's.
pub(super) async fn feed(view: View, watch: Option<String>, headers: HeaderMap) -> Response {
    let key = watch.clone();
    let read = view
        .store
        .run(move |s| -> Result<Option<Vec<Item>>, StoreError> {
            let details = match s.recent_changes(key.as_deref(), ENTRIES) {
                Err(StoreError::UnknownWatch(_)) => return Ok(None),
                other => other?,
            };
            let items = details
                .into_iter()
                .map(|detail| {
                    let summary = summarize(s, &detail)?;
                    Ok(Item { detail, summary })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(Some(items))
        })
        .await;
    let items = match read {
        Ok(Some(items)) => items,
        Ok(None) => return super::pages::not_found().await,
        Err(e) => {
            tracing::error!(error = %e, "web view: cannot read the history for a feed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the history could not be read\n",
            )
                .into_response();
        }
    };
    let base = base(&view, &headers);
    let (title, self_path, id) = match &watch {
        Some(name) => (
            format!("chancery: changes of {name}"),
            format!("{}/feed.atom", watch_href(name)),
            format!("urn:chancery:feed:{name}"),
        ),
        None => (
            "chancery: every change".to_owned(),
            "/feed.atom".to_owned(),
            "urn:chancery:feed".to_owned(),
        ),
    };
    let updated = items.first().map_or_else(
        || datetime(Timestamp(0)),
        |i| datetime(i.detail.change.detected_at),
    );
    let entries = items
        .iter()
        .map(|item| {
            let c = &item.detail.change;
            let href = format!("{base}{}/changes/{}", watch_href(&item.detail.watch), c.id);
            let mut title = format!("{}: {}", item.detail.watch, c.kind.as_str());
            if let Some(headline) = &c.summary.first_change {
                title.push_str(" — ");
                title.push_str(headline);
            }
            Entry {
                id: format!("urn:chancery:change:{}", c.id),
                title: Text::plain(title),
                updated: datetime(c.detected_at),
                summary: Some(Text::plain(item.summary.clone())),
                links: vec![Link {
                    href,
                    rel: "alternate".to_owned(),
                    mime_type: Some("text/html".to_owned()),
                    ..Link::default()
                }],
                ..Entry::default()
            }
        })
        .collect();
    let feed = Feed {
        title: Text::plain(title),
        id,
        updated,
        links: vec![
            Link {
                href: format!("{base}{self_path}"),
                rel: "self".to_owned(),
                mime_type: Some("application/atom+xml".to_owned()),
                ..Link::default()
            },
            Link {
                href: format!(
                    "{base}{}",
                    watch.as_deref().map_or_else(|| "/".to_owned(), watch_href)
                ),
                rel: "alternate".to_owned(),
                mime_type: Some("text/html".to_owned()),
                ..Link::default()
            },
        ],
        generator: Some(Generator {
            value: "chancery".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..Generator::default()
        }),
        authors: vec![Person {
            name: "chancery".to_owned(),
            ..Person::default()
        }],
        entries,
        ..Feed::default()
    };
    let mut response = feed.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    response
}
