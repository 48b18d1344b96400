//! Follow mode's pure stage: from a fetched index page (an HTML listing of
//! statement links, or an RSS/Atom/JSON feed) to the set of *child* watches
//! a follow watch keeps, one per statement URL.
//!
//! A follow watch is checked like any watch; what is new is what happens
//! with its body. The check's listing step (`check/listing.rs`) calls, in
//! order:
//!
//! 1. [`read_index`] on each listing page it fetched (up to
//!    [`FollowSpec::pages`], following [`IndexRead::next`] and stopping at
//!    a URL it already read, since "next" on a last page may point back):
//!    the statement URLs in the page's order, canonical ([`canon`]),
//!    de-duplicated, and for feeds each entry's title, text and date
//!    ([`feed::Entry`]). The pages' items, concatenated in page order, are
//!    the listing;
//! 2. [`reconcile`] with the children it already knows: which URLs are
//!    `published`, `delisted`, `relisted`, which children `max` retires, and
//!    every child's new state, ready to store;
//! 3. [`unique_child_name`] for each new child, whose result it stores: the
//!    name `chancery history`/`diff` accept, `<parent>/<slug>`.
//!
//! Nothing here does IO, reads a clock or keeps state between calls: same
//! input, same output, like `normalize`. Parsing is synchronous (scraper's
//! DOM is `!Send`), and every input is bounded: at most
//! [`links::MAX_LINKS`] links per page, [`feed::MAX_ENTRIES`] entries per
//! feed, element nesting capped as in the normalizer.
//!
//! # Listings are newest first
//!
//! Index pages list the latest statement on top and
//! push older ones down and, with pagination, off the covered pages. The
//! rules below rest on that; feeds are put in date order first
//! ([`feed::newest_first`]).
//!
//! Each child has an `order`, larger = newer, assigned by [`reconcile`]
//! and stored with the parent's check. On the first look the links are numbered by
//! position, the top one highest. Later, new statements get numbers above
//! every known child (discovered later, so newer), and *backfill* (older
//! statements that move up into view when one is taken off a fixed-size
//! page) numbers below every known child. `max` keeps the `max` children
//! with the highest `order` active. Ranking by discovery, not by today's
//! position, means a pinned old statement at the top cannot keep newer
//! ones out.
//!
//! # Child states and events
//!
//! - `Listed`: active (checked on `child_interval`), on the listing at the
//!   last look.
//! - `ScrolledOff`: active, fell off the bottom of the covered pages
//!   because newer statements pushed it there: nothing was taken down, no
//!   event.
//! - `Delisted`: active, but its link was taken off the listing. A
//!   missing link is *delisted* when something older than it is still
//!   listed (it vanished from the middle), or when it vanished from the
//!   bottom while fewer new statements arrived on top than links left (so
//!   nothing pushed it). The child keeps being checked; a 404 then is
//!   `removed` as for any watch. A delisted link that comes back is
//!   *relisted*.
//! - `Retired`: beyond `max`. Not checked, never deleted: its history
//!   stays, and its URL stays known so it never comes back as "published".
//!
//! New links are *published*, except on the first look (*baselined*) and
//! backfill: new links below every known link on the listing, as many as
//! links left the listing on this look, are baselined silently. A listing
//! sorted oldest first therefore still gets its appended statements
//! published, as long as nothing left the page in the same look.
//!
//! An empty listing (a redesign broke the selector, a page of errors), or
//! one where no known link is left, delists nothing: every missing child
//! counts as scrolled off, and the engine should warn. A listing whose URLs
//! all change at once (a move to `https`) reads as that many `published`
//! links: an address change is a change. Limits that follow from the
//! newest-first reading: a listing whose page size shrinks delists the
//! links it no longer shows, and a feed that drops entries by age rather
//! than by count delists them when nothing new arrives.

pub mod canon;
pub mod feed;
pub mod links;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use scraper::Selector;
use url::Url;

use crate::hash::sha256_hex;
pub use crate::model::ChildState;

/// Children a listing keeps active unless the config says otherwise: about
/// a year of a busy spokesperson's daily statements.
pub const DEFAULT_MAX: usize = 200;

/// Listing pages read unless the config says otherwise: only the index.
pub const DEFAULT_PAGES: usize = 1;

/// Listing pages a config may ask for at most: each is a request per look,
/// and following a listing is about "the first few pages", not an archive.
pub const MAX_PAGES: usize = 20;

/// What a follow watch reads from its index page and how many children it
/// may keep. The config (`follow = { … }`) compiles into this.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowSpec {
    /// Where the statement links come from.
    pub source: Source,
    /// Which hosts a statement link may point to (config `same_host`;
    /// default [`Hosts::Same`] for listings, [`Hosts::Any`] for feeds).
    pub hosts: Hosts,
    /// Active children at most (default [`DEFAULT_MAX`]); see [`reconcile`].
    pub max: usize,
    /// Listing pages to read, the index included (default
    /// [`DEFAULT_PAGES`], at most [`MAX_PAGES`]); more than one needs
    /// `next` or a `rel="next"`
    /// link on the page.
    pub pages: usize,
    /// The "next page" link (config `next`); without it, a `rel="next"`
    /// link or `<link>` is followed if there is one.
    pub next: Option<Arc<Selector>>,
}

impl FollowSpec {
    /// Follow the links matching `selector`, with the defaults.
    pub fn links(selector: Arc<Selector>) -> FollowSpec {
        FollowSpec {
            source: Source::Links(selector),
            hosts: Hosts::Same,
            max: DEFAULT_MAX,
            pages: DEFAULT_PAGES,
            next: None,
        }
    }

    /// Treat the watched URL as a feed, with the defaults. Feeds default to
    /// [`Hosts::Any`]: a feed has no navigation to pick up by accident,
    /// every entry is one the publisher chose, and feeds are often served
    /// from another host than the pages (`feeds.…`, a CDN), where
    /// same-host would silently drop every entry.
    pub fn feed() -> FollowSpec {
        FollowSpec {
            source: Source::Feed,
            hosts: Hosts::Any,
            max: DEFAULT_MAX,
            pages: DEFAULT_PAGES,
            next: None,
        }
    }
}

/// Config `links = "…"` or `feed = true`: exactly one of them, so the type
/// says so.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// An HTML listing; the selector matches the statement links (an
    /// element that is not a link stands for the first link inside it).
    Links(Arc<Selector>),
    /// An RSS 2.0, Atom or JSON Feed document; its entries are the
    /// statements.
    Feed,
}

/// Which statement links count. Same-host is the default: a listing's
/// sidebars and footers link other sites, and following them by accident
/// would watch pages nobody asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosts {
    /// Only links to the index page's own host (after redirects; ports and
    /// schemes may differ).
    Same,
    /// Links to any host.
    Any,
}

/// A fetched index page: what the engine got back from `fetch`.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The body as received (after transfer decompression).
    pub body: &'a [u8],
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The final URL, after redirects: relative links resolve against it.
    pub url: &'a Url,
}

/// One statement on an index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Canonical URL of the statement ([`canon::child_url`]).
    pub url: Url,
    /// The link's text, or the feed entry's title; whitespace collapsed.
    pub title: String,
    /// For feeds, the entry itself (its text is compared too, so an edit
    /// made only in the feed is seen); `None` for HTML listings.
    pub entry: Option<feed::Entry>,
}

/// What one index page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRead {
    /// The statements, newest first as far as the page tells (document
    /// order for HTML; [`feed::newest_first`] for feeds), no URL twice.
    pub items: Vec<Item>,
    /// The next listing page, for [`FollowSpec::pages`] > 1. Always `None`
    /// for feeds.
    pub next: Option<Url>,
}

/// An index page that cannot be read as what the spec says it is.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// `feed = true` but the body is not a feed feed-rs can parse.
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
}

/// Reads one index page under `spec`. HTML listings never fail (the HTML
/// parser accepts anything; a page without matching links gives no
/// items); feeds fail when the body is not a feed.
pub fn read_index(page: &Page<'_>, spec: &FollowSpec) -> Result<IndexRead, FollowError> {
    match &spec.source {
        Source::Links(selector) => {
            let listing = links::read_listing(page, selector, spec.hosts, spec.next.as_deref());
            Ok(IndexRead {
                items: listing
                    .links
                    .into_iter()
                    .map(|link| Item {
                        url: link.url,
                        title: link.text,
                        entry: None,
                    })
                    .collect(),
                next: listing.next,
            })
        }
        Source::Feed => {
            let parsed = feed::parse(page)?;
            let mut entries = parsed.entries;
            if spec.hosts == Hosts::Same {
                entries.retain(|entry| links::same_host(&entry.url, page.url));
            }
            Ok(IndexRead {
                items: feed::newest_first(entries)
                    .into_iter()
                    .map(|entry| Item {
                        url: entry.url.clone(),
                        title: entry.title.clone(),
                        entry: Some(entry),
                    })
                    .collect(),
                next: None,
            })
        }
    }
}

/// Longest slug in a child name, in ASCII characters (the parent name and
/// a hash suffix come on top).
pub const MAX_SLUG_CHARS: usize = 60;

/// Hex digits of the URL hash in names that need one: 32 bits, so a
/// listing needs tens of thousands of colliding slugs before two hashes
/// are likely to meet (and [`unique_child_name`] handles that too).
const SHORT_HASH_CHARS: usize = 8;

/// Last path segments that name a template, not a statement: the segment
/// before them is the readable part (`…/art_123/index.html` → `art_123`).
const GENERIC_STEMS: &[&str] = &[
    "index", "default", "main", "content", "detail", "details", "view", "show", "article", "page",
];

/// Extensions a slug drops: they say how the server renders, not what.
const PAGE_EXTENSIONS: &[&str] = &[
    "html", "htm", "shtml", "xhtml", "php", "asp", "aspx", "jsp", "do", "cfm",
];

/// The preferred name of the child for `url` under `parent`:
/// `<parent>/<slug>`, the slug readable (`t20261128_11234567`,
/// `statement-on-the-summit`, `content-id-123`), ASCII `[a-z0-9_-]`, at
/// most [`MAX_SLUG_CHARS`]. A pure function of the URL: when the slug had
/// to drop information that tells statements apart (it was cut to length,
/// or non-ASCII characters were dropped), a short hash of the canonical
/// URL is appended; when nothing readable is left, the name is the hash.
///
/// Two URLs can still share a preferred name (`/en/a/1.html` and
/// `/fr/a/1.html`); the engine therefore names new children with
/// [`unique_child_name`] and stores the result.
pub fn child_name(parent: &str, url: &Url) -> String {
    let url = &canon::canonicalize(url);
    let hash = short_hash(url);
    match slug(url) {
        Some(Slug { text, lossy: false }) => format!("{parent}/{text}"),
        Some(Slug { text, lossy: true }) => format!("{parent}/{text}-{hash}"),
        None => format!("{parent}/{hash}"),
    }
}

/// The name to store for a new child: [`child_name`] if no other child
/// holds it, else the slug with the URL's short hash appended, else (two
/// 32-bit hashes met) the full SHA-256 of the canonical URL. `taken` says
/// whether a name already belongs to a *different* child.
///
/// Each step is a function of the URL alone, so a child's name never
/// depends on more than which of a few fixed spellings was free when it
/// was created; once stored it never changes, and lookups use the stored
/// name (or the URL).
pub fn unique_child_name(parent: &str, url: &Url, taken: impl Fn(&str) -> bool) -> String {
    let url = &canon::canonicalize(url);
    let preferred = child_name(parent, url);
    if !taken(&preferred) {
        return preferred;
    }
    let hash = short_hash(url);
    let with_hash = match slug(url) {
        Some(Slug { text, lossy: false }) => format!("{parent}/{text}-{hash}"),
        // The preferred name already carried this hash.
        Some(Slug { lossy: true, .. }) | None => String::new(),
    };
    if !with_hash.is_empty() && !taken(&with_hash) {
        return with_hash;
    }
    format!("{parent}/{}", sha256_hex(url.as_str().as_bytes()))
}

fn short_hash(url: &Url) -> String {
    let mut hash = sha256_hex(canon::canonicalize(url).as_str().as_bytes());
    hash.truncate(SHORT_HASH_CHARS);
    hash
}

/// The readable part of a child name, and whether making it lost
/// information beyond case and punctuation.
struct Slug {
    text: String,
    lossy: bool,
}

fn slug(url: &Url) -> Option<Slug> {
    let segments: Vec<String> = url
        .path_segments()
        .map(|segments| {
            segments
                .filter(|s| !s.is_empty())
                .map(|s| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut readable = String::new();
    if let Some((last, before)) = segments.split_last() {
        let (stem, extension) = match last.rsplit_once('.') {
            Some((stem, ext))
                if !stem.is_empty()
                    && PAGE_EXTENSIONS
                        .iter()
                        .any(|known| known.eq_ignore_ascii_case(ext)) =>
            {
                (stem, true)
            }
            _ => (last.as_str(), false),
        };
        let generic = extension
            && GENERIC_STEMS
                .iter()
                .any(|generic| generic.eq_ignore_ascii_case(stem));
        if generic && url.query().is_none() && !before.is_empty() {
            readable.push_str(&before[before.len() - 1]);
        } else {
            readable.push_str(stem);
        }
    }
    if let Some(query) = url.query() {
        readable.push('-');
        readable.push_str(query);
    }

    let mut text = String::with_capacity(readable.len());
    let mut lossy = false;
    for c in readable.chars() {
        let mapped = match c {
            'a'..='z' | '0'..='9' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            c if c.is_ascii() => '-',
            _ => {
                lossy = true;
                '-'
            }
        };
        if mapped == '-' && (text.is_empty() || text.ends_with('-')) {
            continue;
        }
        text.push(mapped);
    }
    while text.ends_with('-') {
        text.pop();
    }
    if text.len() > MAX_SLUG_CHARS {
        text.truncate(MAX_SLUG_CHARS);
        while text.ends_with('-') {
            text.pop();
        }
        lossy = true;
    }
    (!text.is_empty()).then_some(Slug { text, lossy })
}

/// A child as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// Canonical statement URL (as [`read_index`] returned it).
    pub url: Url,
    /// Where it stands.
    pub state: ChildState,
    /// Rank within its parent, larger = newer, unique per parent; see the
    /// module docs for how it is assigned. May be negative (backfill).
    pub order: i64,
}

/// What one look at a listing changed. Every list is in listing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// New children without an event: everything on the listing's first
    /// look, and backfill (see the module docs).
    pub baselined: Vec<Url>,
    /// New statements: one `published` event each.
    pub published: Vec<Url>,
    /// Children whose links were taken off the listing: one `delisted`
    /// event each.
    pub delisted: Vec<Url>,
    /// Delisted children whose links came back.
    pub relisted: Vec<Url>,
    /// Children that `max` retired on this look (they stop being checked).
    pub retired: Vec<Url>,
    /// Retired children still on the listing that rank within `max` again
    /// (it was raised): checking resumes, no event.
    pub unretired: Vec<Url>,
    /// Every child, known or new, in its new state, highest `order` first:
    /// what the store should hold afterwards. New children beyond `max`
    /// are here as `Retired` (remembered, so they never come back as
    /// published).
    pub children: Vec<Child>,
}

/// Compares the known children with a newly read listing.
///
/// `observed` is the complete listing (all pages the engine read), newest
/// first as [`read_index`] returns it; both it and `known` hold canonical
/// URLs. Do not call this with a partial listing (a page failed to fetch):
/// the missing links would look taken down.
///
/// `max` keeps the `max` highest-ranked children active and retires the
/// rest; a retired child still on the listing stays retired unless it
/// ranks within `max` again. A `max` of zero retires everything.
pub fn reconcile(known: &[Child], observed: &[Url], max: usize) -> Reconciled {
    let by_url: HashMap<&Url, &Child> = known.iter().map(|child| (&child.url, child)).collect();
    let mut seen = HashSet::new();
    let observed: Vec<&Url> = observed.iter().filter(|url| seen.insert(*url)).collect();
    let on_listing: HashSet<&Url> = observed.iter().copied().collect();
    let first_look = known.is_empty();

    // The oldest known child still listed, and the lowest position of a
    // known child: what lies below both is the listing's tail.
    let oldest_listed = observed
        .iter()
        .filter_map(|url| by_url.get(url))
        .map(|child| child.order)
        .min();
    let last_known_at = observed.iter().rposition(|url| by_url.contains_key(url));

    let (mut new_top, mut new_tail) = (Vec::new(), Vec::new());
    for (at, url) in observed.iter().enumerate() {
        if by_url.contains_key(url) {
            continue;
        }
        match last_known_at {
            Some(last) if at > last => new_tail.push(*url),
            _ => new_top.push(*url),
        }
    }

    // Links that were listed last time and are gone now.
    let mut taken_down: HashSet<&Url> = HashSet::new();
    let mut scrolled_off: HashSet<&Url> = HashSet::new();
    let mut tail_missing: Vec<&Child> = Vec::new();
    for child in known {
        if child.state != ChildState::Listed || on_listing.contains(&child.url) {
            continue;
        }
        match oldest_listed {
            // Nothing known is listed: cannot tell a broken page from a
            // move, so nothing is called taken down.
            None => {
                scrolled_off.insert(&child.url);
            }
            Some(oldest) if child.order > oldest => {
                taken_down.insert(&child.url);
            }
            Some(_) => tail_missing.push(child),
        }
    }
    // New statements on top push as many of the oldest off the bottom.
    tail_missing.sort_by_key(|child| child.order);
    for (index, child) in tail_missing.iter().enumerate() {
        if index < new_top.len() {
            scrolled_off.insert(&child.url);
        } else {
            taken_down.insert(&child.url);
        }
    }
    // As many links as left can be replaced from below (backfill).
    let n_left = taken_down.len() + scrolled_off.len();
    let n_backfill = if oldest_listed.is_some() {
        n_left.min(new_tail.len())
    } else {
        0
    };
    let backfill = new_tail.split_off(new_tail.len() - n_backfill);
    // Both halves are in listing order, the tail below the top.
    let mut published: Vec<&Url> = new_top;
    published.extend(new_tail);

    let highest = known.iter().map(|child| child.order).max().unwrap_or(-1);
    let lowest = known.iter().map(|child| child.order).min().unwrap_or(0);
    let n_published = i64::try_from(published.len()).expect("a listing is far below i64::MAX");
    let mut children: Vec<Child> = known.to_vec();
    children.extend(published.iter().zip(0i64..).map(|(url, index)| Child {
        url: (*url).clone(),
        state: ChildState::Listed,
        // The top of the listing is the newest.
        order: highest + n_published - index,
    }));
    children.extend(backfill.iter().zip(1i64..).map(|(url, index)| Child {
        url: (*url).clone(),
        state: ChildState::Listed,
        order: lowest - index,
    }));
    children.sort_by(|a, b| {
        b.order
            .cmp(&a.order)
            .then_with(|| a.url.as_str().cmp(b.url.as_str()))
    });

    let is_backfill: HashSet<&Url> = backfill.iter().copied().collect();
    let mut out = Reconciled::default();
    let mut n_active = 0usize;
    for child in &mut children {
        let listed_now = on_listing.contains(&child.url);
        let was = by_url.get(&child.url).map(|known| known.state);
        // Retired children off the listing do not compete for a place.
        let competes = was != Some(ChildState::Retired) || listed_now;
        let active = competes && n_active < max;
        if active {
            n_active += 1;
        }

        let Some(was) = was else {
            if !active {
                child.state = ChildState::Retired;
            } else if first_look || is_backfill.contains(&child.url) {
                out.baselined.push(child.url.clone());
            } else {
                out.published.push(child.url.clone());
            }
            continue;
        };

        let now = if listed_now {
            ChildState::Listed
        } else if taken_down.contains(&child.url) {
            out.delisted.push(child.url.clone());
            ChildState::Delisted
        } else if scrolled_off.contains(&child.url) {
            ChildState::ScrolledOff
        } else {
            was
        };
        child.state = match (active, was, now) {
            (false, ChildState::Retired, _) => ChildState::Retired,
            (false, _, _) => {
                out.retired.push(child.url.clone());
                ChildState::Retired
            }
            (true, ChildState::Retired, _) => {
                out.unretired.push(child.url.clone());
                ChildState::Listed
            }
            (true, ChildState::Delisted, ChildState::Listed) => {
                out.relisted.push(child.url.clone());
                ChildState::Listed
            }
            (true, _, now) => now,
        };
    }
    // Events in listing order (children are in rank order); links no
    // longer listed go last, newest first.
    let positions: HashMap<&Url, usize> = observed
        .iter()
        .enumerate()
        .map(|(at, url)| (*url, at))
        .collect();
    let position = |url: &Url| positions.get(url).copied().unwrap_or(usize::MAX);
    for list in [
        &mut out.baselined,
        &mut out.published,
        &mut out.relisted,
        &mut out.unretired,
    ] {
        list.sort_by_key(|url| position(url));
    }
    out.children = children;
    out
}

#[cfg(test)]
mod tests;
