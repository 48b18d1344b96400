//! The pages of the web view. Each handler reads the store on its blocking
//! thread, then renders with maud (which escapes every interpolated value).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::View;
use crate::model::{ChildState, SnapshotId, Timestamp};
use crate::store::{ChangeRow, CheckRow, Snapshot, Standing, StoreError, WatchSummary};

/// Rows a watch page shows unless asked for more, and the most it shows.
const DEFAULT_ROWS: usize = 50;
const MAX_ROWS: usize = 1000;

const STYLE: &str = include_str!("style.css");

pub(super) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="referrer" content="no-referrer";
                    title { (title) " · chancery" }
                    link rel="stylesheet" href="/style.css";
                }
                body {
                    header { a href="/" { "chancery" } }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("error");
    (
        status,
        page(title, html! { h1 { (title) } p { (message) } }),
    )
        .into_response()
}

pub(super) async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no such page here.")
}

fn store_error(e: &StoreError) -> Response {
    tracing::error!(error = %e, "web view: cannot read the history");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The history could not be read; the server log says why.",
    )
}

/// A time, machine-readable in `datetime` and readable as text.
fn time(t: Timestamp) -> Markup {
    let text = t.rfc3339();
    html! { time datetime=(text) { (text.replace('T', " ").trim_end_matches('Z')) " UTC" } }
}

fn maybe_time(t: Option<Timestamp>) -> Markup {
    match t {
        Some(t) => time(t),
        None => html! { "–" },
    }
}

/// The path of a watch's page. Names are `[a-z0-9._-]+`, and a follow
/// child's `<parent>/<slug>`; anything else is percent-encoded.
pub(super) fn watch_href(name: &str) -> String {
    let mut href = String::from("/w/");
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'~' | b'/' => {
                href.push(char::from(b));
            }
            _ => href.push_str(&format!("%{b:02X}")),
        }
    }
    href
}

/// A link to `url` if it is a web address, else the text.
fn external(url: &str) -> Markup {
    let web = url.starts_with("https://") || url.starts_with("http://");
    html! {
        @if web { a href=(url) rel="noreferrer noopener" { (url) } } @else { (url) }
    }
}

fn state_badge(state: Standing) -> Markup {
    html! { span class={ "state " (state.as_str_lower()) } { (state.as_str_lower()) } }
}

#[derive(Deserialize)]
pub(super) struct IndexQuery {
    /// `change`: newest change first; otherwise by name.
    sort: Option<String>,
}

/// `/`: every watch with its state, last check and last change; follow
/// children under their parent.
pub(super) async fn index(State(view): State<View>, Query(q): Query<IndexQuery>) -> Response {
    let summaries = match view.store.run(|s| s.watches()).await {
        Ok(s) => s,
        Err(e) => return store_error(&e),
    };
    let by_change = q.sort.as_deref() == Some("change");
    let mut known: HashMap<&str, &WatchSummary> =
        summaries.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut children: HashMap<&str, Vec<&WatchSummary>> = HashMap::new();
    for s in &summaries {
        if let Some(parent) = s.parent.as_deref()
            && s.child_state != Some(ChildState::Retired)
        {
            children.entry(parent).or_default().push(s);
        }
    }
    // Config watches first (new ones have no summary yet), then what only
    // the history holds.
    let mut tops: Vec<(String, String, Option<&WatchSummary>, bool)> = view
        .config
        .watches
        .iter()
        .map(|w| {
            (
                w.name.clone(),
                w.url.to_string(),
                known.remove(w.name.as_str()),
                true,
            )
        })
        .collect();
    let mut rest: Vec<&WatchSummary> = known.into_values().filter(|s| s.parent.is_none()).collect();
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    tops.extend(
        rest.into_iter()
            .map(|s| (s.name.clone(), s.url.clone(), Some(s), false)),
    );
    let last_change = |s: Option<&WatchSummary>| s.and_then(|s| s.last_change_at);
    if by_change {
        tops.sort_by_key(|t| std::cmp::Reverse(last_change(t.2)));
        for kids in children.values_mut() {
            kids.sort_by_key(|k| std::cmp::Reverse(k.last_change_at));
        }
    } else {
        for kids in children.values_mut() {
            kids.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    let row = |name: &str, url: &str, s: Option<&WatchSummary>, class: &str, note: &str| {
        let state = s.map_or(Standing::New, Standing::of);
        html! {
            tr class=[(!class.is_empty()).then_some(class)] {
                td { a href=(watch_href(name)) { (name) } @if !note.is_empty() { " " small { (note) } } }
                td { (state_badge(state)) }
                td { (maybe_time(s.and_then(|s| s.last_check_at))) }
                td {
                    @if let Some(s) = s.filter(|s| s.last_change_at.is_some()) {
                        (maybe_time(s.last_change_at))
                        @if let Some(kind) = s.last_change_kind { " " span class="kind" { (kind.as_str()) } }
                    } @else { "–" }
                }
                td class="url" { (external(url)) }
            }
        }
    };
    let count = match tops.len() {
        1 => "1 watched page".to_owned(),
        n => format!("{n} watched pages"),
    };
    let body = html! {
        h1 { "Watches" }
        p {
            (count) ". Sort: "
            @if by_change { a href="/" { "by name" } " · " strong { "by last change" } }
            @else { strong { "by name" } " · " a href="/?sort=change" { "by last change" } }
            " · " a href="/feed.atom" type="application/atom+xml" { "Atom feed of every change" }
        }
        div class="scroll" {
            table {
                thead { tr { th { "watch" } th { "state" } th { "last check" } th { "last change" } th { "URL" } } }
                tbody {
                    @for (name, url, s, in_config) in &tops {
                        (row(name, url, *s, "", if *in_config { "" } else { "(history only)" }))
                        @for kid in children.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                            (row(&kid.name, &kid.url, Some(kid), "child", ""))
                        }
                    }
                }
            }
        }
    };
    page("Watches", body).into_response()
}

#[derive(Deserialize, Default)]
pub(super) struct RowsQuery {
    /// How many changes and checks to show (default 50, at most 1000).
    n: Option<usize>,
    /// Show changes older than this change id (the next page).
    changes_before: Option<i64>,
    /// Show checks older than this check id.
    checks_before: Option<i64>,
}

/// Routes under `/w/`: a watch name (which may hold `/`) followed by
/// nothing, `/changes/<id>`, `/snapshots/<id>`, `/snapshots/<id>/raw` or
/// `/feed.atom`.
pub(super) async fn under_watch(
    State(view): State<View>,
    Path(path): Path<String>,
    Query(q): Query<RowsQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let id = |s: &str| s.parse::<SnapshotId>().ok().filter(|id| *id > 0);
    match parts.as_slice() {
        [name @ .., "snapshots", snap, "raw"] if !name.is_empty() => match id(snap) {
            Some(snap) => raw(view, name.join("/"), snap).await,
            None => not_found().await,
        },
        [name @ .., "snapshots", snap] if !name.is_empty() => match id(snap) {
            Some(snap) => snapshot(view, name.join("/"), snap).await,
            None => not_found().await,
        },
        [name @ .., "feed.atom"] if !name.is_empty() => {
            let name = name.join("/");
            if !plausible_name(&name) {
                return not_found().await;
            }
            super::feed::feed(view, Some(name), headers).await
        }
        [name @ .., "changes", change] if !name.is_empty() => match id(change) {
            Some(change) => change_page(view, name.join("/"), change).await,
            None => not_found().await,
        },
        _ => watch(view, path, q).await,
    }
}

/// A name worth a query: short and printable.
fn plausible_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 512 && !name.chars().any(char::is_control)
}

/// `/w/<name>`: the watch's changes and recent checks, a page of each
/// (`?changes_before=ID`, `?checks_before=ID` for older ones).
async fn watch(view: View, name: String, q: RowsQuery) -> Response {
    if !plausible_name(&name) {
        return not_found().await;
    }
    let rows = q.n.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS);
    let (changes_before, checks_before) = (q.changes_before, q.checks_before);
    let key = name.clone();
    let read = view
        .store
        .run(move |s| -> Result<_, StoreError> {
            let Some(summary) = s.watches()?.into_iter().find(|w| w.name == key) else {
                return Ok(None);
            };
            let changes = s.changes_before(&key, changes_before, Some(rows))?;
            let checks = s.checks_before(&key, checks_before, Some(rows))?;
            Ok(Some((summary, changes, checks)))
        })
        .await;
    let (summary, changes, checks) = match read {
        Ok(Some(found)) => found,
        Ok(None) => return not_found().await,
        Err(e) => return store_error(&e),
    };
    let href = watch_href(&name);
    // The next page starts below the last row shown; a full page may have
    // more behind it.
    let older_changes = changes
        .last()
        .filter(|_| changes.len() == rows)
        .map(|c| format!("{href}?changes_before={}&n={rows}", c.id));
    let older_checks = checks
        .last()
        .filter(|_| checks.len() == rows)
        .map(|c| format!("{href}?checks_before={}&n={rows}", c.id));
    let paged = changes_before.is_some() || checks_before.is_some();
    let body = html! {
        h1 { (name) }
        p class="url" { (external(&summary.url)) }
        p {
            (state_badge(Standing::of(&summary)))
            " · last check " (maybe_time(summary.last_check_at))
            " · " (summary.n_changes) " changes, " (summary.n_checks) " checks"
            @if let Some(parent) = &summary.parent { " · listed by " a href=(watch_href(parent)) { (parent) } }
            " · " a href={ (href) "/feed.atom" } type="application/atom+xml" { "Atom feed" }
        }
        @if let Some(error) = &summary.last_error { p class="error" { "Last error: " (error) } }
        @if paged { p { a href=(href) { "← newest" } } }
        h2 { "Changes" @if changes_before.is_some() { " (older)" } }
        (changes_table(&href, &changes))
        @if let Some(next) = &older_changes { p { a href=(next) rel="next" { "Older changes →" } } }
        h2 { "Checks" @if checks_before.is_some() { " (older)" } }
        (checks_table(&href, &checks))
        @if let Some(next) = &older_checks { p { a href=(next) { "Older checks →" } } }
    };
    page(&name, body).into_response()
}

fn snapshot_link(href: &str, id: Option<SnapshotId>) -> Markup {
    html! {
        @match id {
            Some(id) => a href={ (href) "/snapshots/" (id) } { "#" (id) },
            None => "–",
        }
    }
}

fn changes_table(href: &str, changes: &[ChangeRow]) -> Markup {
    html! {
        @if changes.is_empty() { p { "No change recorded." } } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "detected" } th { "kind" } th { "what changed" } th { "lines" } th { "before" } th { "after" } } }
                    tbody {
                        @for c in changes {
                            tr id={ "change-" (c.id) } {
                                td { (time(c.detected_at)) }
                                td { a href={ (href) "/changes/" (c.id) } class="kind" { (c.kind.as_str()) } }
                                td { (c.summary.first_change.as_deref().unwrap_or("")) }
                                td { "+" (c.summary.lines_added) " −" (c.summary.lines_removed) }
                                td { (snapshot_link(href, c.from)) }
                                td { (snapshot_link(href, c.to)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn checks_table(href: &str, checks: &[CheckRow]) -> Markup {
    html! {
        @if checks.is_empty() { p { "Never checked." } } @else {
            div class="scroll" {
                table {
                    thead { tr { th { "started" } th { "outcome" } th { "HTTP" } th { "reason" } th { "took" } th { "text" } th { "final URL, error" } } }
                    tbody {
                        @for c in checks {
                            tr {
                                td { (time(c.started_at)) }
                                td { (c.outcome.as_str()) }
                                td { @if let Some(s) = c.http_status { (s) } @else { "–" } }
                                td { (c.reason.as_deref().unwrap_or("")) }
                                td { (c.duration_ms) " ms" }
                                td { (snapshot_link(href, c.snapshot_id)) }
                                td class="url" {
                                    @if let Some(u) = &c.final_url { (external(u)) }
                                    @if let Some(e) = &c.error { " " span class="error" { (e) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `/w/<name>/changes/<id>`: one change, word by word and side by side,
/// with both versions and their hashes.
async fn change_page(view: View, name: String, id: crate::model::ChangeId) -> Response {
    if !plausible_name(&name) {
        return not_found().await;
    }
    let key = name.clone();
    let read = view
        .store
        .run(move |s| -> Result<_, StoreError> {
            let Some(detail) = s.change_detail(id)? else {
                return Ok(None);
            };
            if detail.watch != key {
                return Ok(None);
            }
            let version = |snap: Option<SnapshotId>| match snap {
                Some(snap) => s.snapshot(&key, Some(snap)),
                None => Ok(None),
            };
            let before = version(detail.change.from)?;
            let after = version(detail.change.to)?;
            Ok(Some((detail, before, after)))
        })
        .await;
    let (detail, before, after) = match read {
        Ok(Some(found)) => found,
        Ok(None) => return not_found().await,
        Err(e) => return store_error(&e),
    };
    let c = &detail.change;
    let href = watch_href(&name);
    let (words, side) = match (&before, &after) {
        (Some(b), Some(a)) => (
            crate::diff::web::words(&b.text, &a.text, 3),
            crate::diff::web::side_by_side(&b.text, &a.text, 3),
        ),
        _ => (String::new(), String::new()),
    };
    let version = |label: &str, snap: &Option<Snapshot>| {
        html! {
            @match snap {
                Some(s) => {
                    dt { (label) }
                    dd {
                        a href={ (href) "/snapshots/" (s.meta.id) } { "version #" (s.meta.id) }
                        ", first fetched " (time(s.meta.fetched_at))
                        br;
                        "text SHA-256 " code { (s.meta.sha256) }
                        @if let Some(raw) = &s.meta.raw_sha256 {
                            br;
                            "response SHA-256 " code { (raw) }
                            " (" a href={ (href) "/snapshots/" (s.meta.id) "/raw" } { "raw, as text" } ")"
                        }
                    }
                },
                None => { dt { (label) } dd { "–" } },
            }
        }
    };
    let since = c.detected_at.rfc3339();
    let body = html! {
        h1 { a href=(href) { (name) } " · " (c.kind.as_str()) }
        p class="url" { (external(&detail.url)) }
        @if let Some(headline) = &c.summary.first_change { p class="headline" { (headline) } }
        dl {
            dt { "detected" } dd { (time(c.detected_at)) @if let Some(s) = c.http_status { " (HTTP " (s) ")" } }
            dt { "lines" } dd { "+" (c.summary.lines_added) " −" (c.summary.lines_removed) " (" (format!("{:.1}", c.summary.changed_ratio * 100.0)) "% of the text)" }
            (version("before", &before))
            (version("after", &after))
            dt { "evidence" } dd { "The stored responses, as a WARC file: " code { "chancery export " (name) " --since " (since.get(..10).unwrap_or(&since)) " --warc " (name.replace('/', "-")) ".warc" } }
        }
        @if before.is_some() && after.is_some() {
            @if words.is_empty() {
                p { "The two versions have the same text." }
            } @else {
                h2 { "Word by word" }
                (maud::PreEscaped(words))
                h2 { "Side by side" }
                div class="scroll" { (maud::PreEscaped(side)) }
            }
        } @else if let Some(a) = &after {
            h2 { "Text" }
            pre class="text" { (a.text) }
        } @else if before.is_some() {
            p { "After this change the page no longer had the statement; the last text is version #" (c.from.unwrap_or_default()) "." }
        }
    };
    page(&format!("{name} · {}", c.kind.as_str()), body).into_response()
}

async fn read_snapshot(
    view: &View,
    name: String,
    id: SnapshotId,
) -> Result<Option<Snapshot>, StoreError> {
    if !plausible_name(&name) {
        return Ok(None);
    }
    view.store
        .run(move |s| match s.snapshot(&name, Some(id)) {
            Err(StoreError::UnknownWatch(_)) => Ok(None),
            other => other,
        })
        .await
}

/// `/w/<name>/snapshots/<id>`: one version's text, with where it came from.
async fn snapshot(view: View, name: String, id: SnapshotId) -> Response {
    let snap = match read_snapshot(&view, name.clone(), id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found().await,
        Err(e) => return store_error(&e),
    };
    let href = watch_href(&name);
    let m = &snap.meta;
    let body = html! {
        h1 { a href=(href) { (name) } " · version #" (m.id) }
        dl {
            dt { "first fetched" } dd { (time(m.fetched_at)) }
            dt { "text SHA-256" } dd { code { (m.sha256) } }
            @if let Some(raw) = &m.raw_sha256 {
                dt { "response SHA-256" } dd { code { (raw) } " · " a href={ (href) "/snapshots/" (m.id) "/raw" } { "raw response, as text" } }
            }
            @if let Some(ct) = &m.content_type { dt { "content type" } dd { (ct) } }
            @if let Some(u) = &m.final_url { dt { "final URL" } dd class="url" { (external(u)) } }
        }
        h2 { "Text" }
        pre class="text" { (snap.text) }
    };
    page(&format!("{name} #{}", m.id), body).into_response()
}

/// `/w/<name>/snapshots/<id>/raw`: the response body the version was read
/// from, as plain text (never as the page it was).
async fn raw(view: View, name: String, id: SnapshotId) -> Response {
    let snap = match read_snapshot(&view, name, id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found().await,
        Err(e) => return store_error(&e),
    };
    let Some(sha) = snap.meta.raw_sha256.clone() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No raw response is stored for this version.",
        );
    };
    let body = match view.store.run(move |s| s.raw_body(&sha)).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No raw response is stored for this version.",
            );
        }
        Err(e) => return store_error(&e),
    };
    let content_type = match charset_of(snap.meta.content_type.as_deref()) {
        Some(cs) => format!("text/plain; charset={cs}"),
        None => "text/plain".to_owned(),
    };
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    response
}

/// The `charset` parameter of a stored `Content-Type`, if it is a plain
/// token (anything else is dropped rather than echoed into a header).
fn charset_of(content_type: Option<&str>) -> Option<String> {
    let ct = content_type?;
    ct.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (key.trim().eq_ignore_ascii_case("charset")
            && !value.is_empty()
            && value.len() <= 40
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
        .then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_and_charsets_carry_nothing_hostile() {
        assert_eq!(watch_href("mfa/statement-1"), "/w/mfa/statement-1");
        assert_eq!(watch_href("a b\"<"), "/w/a%20b%22%3C");
        assert_eq!(
            charset_of(Some("text/html; charset=GBK")).as_deref(),
            Some("GBK")
        );
        assert_eq!(
            charset_of(Some("text/html; charset=\"utf-8\"")).as_deref(),
            Some("utf-8")
        );
        assert_eq!(
            charset_of(Some("text/html; charset=x\r\nSet-Cookie: a")),
            None
        );
        assert_eq!(charset_of(Some("text/html")), None);
    }
}
