//! Follow mode's glue in a check: a follow watch's listing is read from the
//! fetched index page and up to `pages - 1` "next" pages
//! ([`Pipeline::read_listing`]), then reconciled with the stored children
//! inside the check's own transaction ([`reconcile`]). The rules (which
//! links are statements, what a delisting is) are in [`crate::follow`].

use std::collections::{HashMap, HashSet};

use super::report::ListingReport;
use super::{Pipeline, Seen};
use crate::config::{Subscriber, Watch};
use crate::diff::DiffSummary;
use crate::fetch::{Response, Validators};
use crate::follow::{self, FollowSpec};
use crate::model::{ChangeKind, ChildState, Outcome};
use crate::notify::alerts_for;
use crate::store::{ChildRow, ChildUpdate, FollowUpdate, Store, StoreError};

impl Pipeline {
    /// The statements on a follow watch's listing, when the check got the
    /// index page; `None` for other watches, failed checks, and a listing
    /// that could not be read whole (which changes nothing).
    pub(super) async fn read_listing(
        &self,
        watch: &Watch,
        seen: &Seen,
    ) -> Option<Vec<follow::Item>> {
        let spec = watch.follow.as_ref()?;
        let response = seen.fetched.as_ref().ok()?;
        if !(200..300).contains(&response.status) || seen.decision.outcome == Outcome::Error {
            return None;
        }
        match self.read_pages(spec, response).await {
            Ok(items) => Some(items),
            Err(e) => {
                tracing::warn!(watch = %watch.name, error = %e, "listing not read; children unchanged");
                None
            }
        }
    }

    /// The fetched index page, then up to `pages - 1` "next" pages, each
    /// through the host gate. Fails if any page cannot be fetched or read,
    /// so a partial listing never makes statements look taken down.
    async fn read_pages(
        &self,
        spec: &FollowSpec,
        first: &Response,
    ) -> Result<Vec<follow::Item>, String> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let (mut body, mut content_type, mut url) = (
            first.body.clone(),
            first.content_type.clone(),
            first.final_url.clone(),
        );
        seen.insert(url.clone());
        for n in 0..spec.pages.max(1) {
            let spec_owned = spec.clone();
            let cost = crate::normalize::memory_estimate(&body, content_type.as_deref());
            let (read, page_url) = self
                .cpu
                .run(cost, move || {
                    let page = follow::Page {
                        body: &body,
                        content_type: content_type.as_deref(),
                        url: &url,
                    };
                    (follow::read_index(&page, &spec_owned), url)
                })
                .await
                .map_err(|over| over.to_string())?;
            let read = read.map_err(|e| format!("{page_url}: {e}"))?;
            items.extend(read.items);
            let Some(next) = read
                .next
                .filter(|next| n + 1 < spec.pages && seen.insert(next.clone()))
            else {
                break;
            };
            let page = self
                .fetcher
                .fetch(&next, &Validators::default())
                .await
                .map_err(|e| format!("listing page {next}: {e}"))?;
            if !(200..300).contains(&page.status) {
                return Err(format!("listing page {next}: HTTP {}", page.status));
            }
            (body, content_type, url) = (page.body, page.content_type, page.final_url);
        }
        // The same statement linked from two pages counts once, where it
        // first appears.
        let mut unique = HashSet::new();
        items.retain(|item| unique.insert(item.url.clone()));
        Ok(items)
    }
}

/// Reconciles a read listing with the stored children: names new children
/// `<parent>/<slug>`, queues `delisted` alerts, and says which children are
/// active. Runs inside the parent check's store call, so the children and
/// the check are one transaction.
pub(super) fn reconcile(
    store: &mut dyn Store,
    watch: &Watch,
    items: &[follow::Item],
    subscribers: &[Subscriber],
) -> Result<(FollowUpdate, ListingReport), StoreError> {
    let spec = watch
        .follow
        .as_ref()
        .expect("only follow watches read listings");
    let stored = store.children(&watch.name)?;
    let known: Vec<follow::Child> = stored
        .iter()
        .filter_map(|c| {
            Some(follow::Child {
                url: url::Url::parse(&c.url).ok()?,
                state: c.state,
                order: c.order,
            })
        })
        .collect();
    let observed: Vec<url::Url> = items.iter().map(|i| i.url.clone()).collect();
    let reconciled = follow::reconcile(&known, &observed, spec.max);
    let by_url: HashMap<&str, &ChildRow> = stored.iter().map(|c| (c.url.as_str(), c)).collect();
    let titles: HashMap<&url::Url, &str> =
        items.iter().map(|i| (&i.url, i.title.as_str())).collect();
    let contains = |list: &[url::Url], url: &url::Url| list.iter().any(|u| u == url);
    let mut taken: HashSet<String> = stored.iter().map(|c| c.name.clone()).collect();
    let mut update = FollowUpdate::default();
    let mut report = ListingReport {
        published: Vec::new(),
        delisted: Vec::new(),
        retired: Vec::new(),
        active: Vec::new(),
    };
    let empty = DiffSummary::none(None);
    for child in &reconciled.children {
        let old = by_url.get(child.url.as_str());
        let name = match old {
            Some(row) => row.name.clone(),
            None => {
                let reader: &dyn Store = &*store;
                let clash = |n: &str| -> bool {
                    taken.contains(n) || reader.watch_state(n).ok().flatten().is_some()
                };
                let name = follow::unique_child_name(&watch.name, &child.url, clash);
                taken.insert(name.clone());
                name
            }
        };
        let delisted = contains(&reconciled.delisted, &child.url);
        let child_watch = watch.child(name.clone(), child.url.clone());
        if contains(&reconciled.published, &child.url) {
            report.published.push(name.clone());
        }
        if delisted {
            report.delisted.push(name.clone());
        }
        if contains(&reconciled.retired, &child.url) {
            report.retired.push(name.clone());
        }
        if child.state != ChildState::Retired {
            report.active.push((name.clone(), child.url.clone()));
        }
        let unchanged = old.is_some_and(|row| row.state == child.state && row.order == child.order);
        if unchanged && !delisted {
            continue;
        }
        update.children.push(ChildUpdate {
            name,
            url: child.url.to_string(),
            state: child.state,
            order: child.order,
            title: titles.get(&child.url).map(|t| (*t).to_owned()),
            announce: contains(&reconciled.published, &child.url),
            delisted: delisted.then(|| {
                alerts_for(
                    &child_watch,
                    subscribers,
                    ChangeKind::Delisted,
                    &empty,
                    None,
                )
            }),
        });
    }
    Ok((update, report))
}
