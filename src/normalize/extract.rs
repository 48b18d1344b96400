//! Main-content extraction for `content = "auto"`: which parts of a page are
//! the statement, and which are chrome (menus, headers, footers, sidebars,
//! share bars, related links, cookie banners, comments).
//!
//! A scorer in the manner of Mozilla's Readability, rebuilt over scraper's
//! tree so it shares the text walk of `full`: blocks with real sentences
//! vote for their ancestors, link-heavy containers lose, the best container
//! and its like siblings are kept, and link-heavy or chrome-named parts
//! inside them are cut. `docs/extraction.md` has the rules, the measurement
//! that chose them, and the fallback to `full`.
//!
//! Everything is iterative over an arena in document order (parents before
//! children), so depth costs heap, never stack, and the whole pass is a few
//! linear sweeps.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use scraper::Node;

use super::Filters;
use super::dom::{NodeRef, is_block, is_dropped, is_hidden};

/// Below this weighted length (see [`weighted_len`]) a block is not a
/// paragraph and casts no vote: captions, buttons, menu entries.
const MIN_PARAGRAPH_LEN: u32 = 25;

/// Main content shorter than this (weighted) is not plausible: a tiny page,
/// a listing, an error page. Then the page is taken whole (`full`).
const MIN_CONTENT_LEN: u32 = 250;

/// What the walk keeps of a page: the text of `keep` subtrees, minus the
/// `drop` subtrees. Nodes are identified by the address of their value in
/// the tree, which is stable while the document lives.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    keep: HashSet<usize>,
    drop: HashSet<usize>,
}

impl Plan {
    pub(crate) fn keeps(&self, node: NodeRef<'_>) -> bool {
        self.keep.contains(&key(node))
    }

    pub(crate) fn drops(&self, node: NodeRef<'_>) -> bool {
        self.drop.contains(&key(node))
    }
}

fn key(node: NodeRef<'_>) -> usize {
    std::ptr::from_ref(node.value()) as usize
}

/// Class or id words of page chrome (Readability's list, plus the cookie,
/// consent, share and navigation words official sites use, and photo
/// captions and credits, which change with every new picture).
static UNLIKELY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "(?i)-ad-|ai2html|banner|breadcrumb|combx|comment|community|cover-wrap|disqus|extra|\
         footer|gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|skyscraper|\
         social|sponsor|supplemental|ad-break|agegate|pagination|pager|popup|yom-remote|cookie|\
         consent|share|sharing|navbar|navigation|subnav|topnav|skip-?link|toolbar|copyright|\
         credit|caption|image-annotation",
    )
    .expect("static regex compiles")
});

/// Words that make an [`UNLIKELY`] match a maybe after all.
static MAYBE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("(?i)and|article|body|column|content|main|mathjax|shadow")
        .expect("static regex compiles")
});

static NEGATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "(?i)-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|footer|gdpr|\
         masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|\
         sponsor|shopping|tags|widget|cookie|breadcrumb|nav",
    )
    .expect("static regex compiles")
});

static POSITIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "(?i)article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story",
    )
    .expect("static regex compiles")
});

/// ARIA roles of chrome.
fn unlikely_role(role: &str) -> bool {
    matches!(
        role.trim().to_ascii_lowercase().as_str(),
        "menu"
            | "menubar"
            | "complementary"
            | "navigation"
            | "banner"
            | "contentinfo"
            | "search"
            | "alert"
            | "alertdialog"
            | "dialog"
    )
}

/// Tags that are chrome wherever they are. Figure captions count: they
/// and photo credits are not the statement, and change with every new
/// picture. The `figure` itself stays, since it may hold a table or a
/// quotation; an image alone has no text anyway.
fn chrome_tag(name: &str) -> bool {
    matches!(name, "nav" | "aside" | "footer" | "figcaption")
}

/// One element of the page, in document order.
struct Info<'a> {
    node: NodeRef<'a>,
    name: &'a str,
    parent: Option<usize>,
    /// The nearest block-level ancestor-or-self: the paragraph its text
    /// belongs to.
    owner: usize,
    in_link: bool,
    in_table: bool,
    class_weight: f32,
    /// Text directly owned (not through a nested block).
    own_len: u32,
    own_commas: u32,
    /// Whole subtree, after the bottom-up sweep.
    text_len: u32,
    link_len: u32,
    commas: u32,
    paragraphs: u32,
    list_items: u32,
    links: u32,
    /// `img` elements in the subtree.
    images: u32,
    score: f32,
    candidate: bool,
}

impl Info<'_> {
    fn link_density(&self) -> f32 {
        if self.text_len == 0 {
            0.0
        } else {
            self.link_len as f32 / self.text_len as f32
        }
    }
}

/// Text length in which a CJK character counts as a short word (3 Latin
/// letters): Readability's thresholds assume alphabetic text, and a
/// Chinese paragraph has a third of the characters of its English
/// translation.
fn weighted_len(text: &str) -> (u32, u32) {
    let mut len = 0u32;
    let mut commas = 0u32;
    // Whether the last visible character was an ASCII digit.
    let mut after_digit = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // ASCII (most of most pages) byte by byte: no char decoding, no
        // Unicode tables.
        if b.is_ascii() {
            i += 1;
            // `char::is_whitespace` on ASCII: tab to carriage return, space.
            if matches!(b, b'\t'..=b'\r' | b' ') {
                after_digit = false;
                continue;
            }
            len += 1;
            commas += u32::from(b == b',');
            after_digit = b.is_ascii_digit();
            continue;
        }
        let c = text[i..]
            .chars()
            .next()
            .expect("i is on a char boundary: it follows whole chars");
        i += c.len_utf8();
        if c.is_whitespace() {
            after_digit = false;
            continue;
        }
        len += if is_cjk(c) { 3 } else { 1 };
        // "1、" numbers a list item; it is not a pause in a sentence.
        let numbering = c == '、' && after_digit;
        if matches!(c, '，' | '、' | '،' | '﹐' | '﹑' | '､') && !numbering {
            commas += 1;
        }
        after_digit = false;
    }
    (len, commas)
}

/// Han, kana and hangul: scripts written without spaces between words (or
/// with syllable blocks that carry a word's weight).
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'
        | '\u{2E80}'..='\u{2FDF}'
        | '\u{3040}'..='\u{30FF}'
        | '\u{3100}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7AF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}')
}

fn class_and_id(element: &scraper::node::Element) -> (Option<&str>, Option<&str>) {
    (element.attr("class"), element.id())
}

fn class_weight(class: Option<&str>, id: Option<&str>) -> f32 {
    let mut weight = 0.0;
    for value in [class, id].into_iter().flatten() {
        if value.is_empty() {
            continue;
        }
        if NEGATIVE.is_match(value) {
            weight -= 25.0;
        }
        if POSITIVE.is_match(value) {
            weight += 25.0;
        }
    }
    weight
}

/// Whether an element is chrome by its tag, role or class/id words.
fn is_chrome(element: &scraper::node::Element, in_table: bool, names: Names) -> bool {
    let name = element.name();
    if chrome_tag(name) {
        return true;
    }
    // A `<header>` element is an article's header as often as the site's
    // (its headline, byline, date): class words do not drop it; a site
    // banner says so with `role="banner"`, and its menu loses on links.
    if matches!(
        name,
        "html" | "body" | "main" | "article" | "a" | "table" | "tbody" | "tr" | "td" | "th"
    ) || (name == "header" && element.attr("role").is_none())
    {
        return false;
    }
    if element.attr("role").is_some_and(unlikely_role) {
        return true;
    }
    if in_table || names == Names::Trusted {
        // Table layouts name their cells after the page grid; Readability
        // does not trust class names there either.
        return false;
    }
    let (class, id) = class_and_id(element);
    let values = [class, id];
    let any = |regex: &Regex| values.iter().flatten().any(|v| regex.is_match(v));
    any(&UNLIKELY) && !any(&MAYBE)
}

/// Elements that own the text inside them for scoring: blocks, plus table
/// cells (a table layout's paragraphs).
fn owns_text(name: &str) -> bool {
    is_block(name) || name == "td" || name == "th"
}

/// What `auto` chose for a page.
pub(crate) struct Choice {
    /// What to keep; `None` when no plausible main content is found (the
    /// caller then keeps everything).
    pub(crate) plan: Option<Plan>,
    /// Where the content is, to prefer next time (see [`plan`]).
    pub(crate) region: Option<String>,
    /// A region was remembered and this page's content is elsewhere (or
    /// nowhere): the choice moved.
    pub(crate) moved: bool,
}

/// Decides what `auto` keeps of the tree under `root`.
///
/// `sticky` is the region chosen on an earlier version of the page. It is
/// preferred while it still exists (same path, tag, id and class) and
/// still holds at least half as much text as the fresh choice: so the
/// region does not flip between two close candidates as a statement is
/// edited, and a short statement stays a statement. When it is gone or
/// clearly smaller than what the page now holds, the fresh choice is taken
/// and [`Choice::moved`] says so.
pub(crate) fn plan(
    root: NodeRef<'_>,
    filters: &Filters,
    title: Option<&str>,
    sticky: Option<&str>,
) -> Choice {
    // A region remembers the pass that chose it: the same region read
    // under the other pass keeps or drops other parts (a `class="footer"`
    // inside it), and an unchanged page would read as edited.
    let (remembered, chosen_by) = match sticky {
        Some(region) => match region.strip_prefix(TRUSTED_MARK) {
            Some(path) => (Some(path), Names::Trusted),
            None => (Some(region), Names::Distrusted),
        },
        None => (None, Names::Distrusted),
    };
    let hinted = remembered.and_then(|path| resolve(root, path));
    let passes = match chosen_by {
        Names::Distrusted => [Names::Distrusted, Names::Trusted],
        Names::Trusted => [Names::Trusted, Names::Distrusted],
    };
    for (n, names) in passes.into_iter().enumerate() {
        if n > 0 && names == Names::Trusted {
            // Class words misfire (`panel-two-col-sidebar-right-mix` wraps a
            // whole ACLU article): like Readability, try once more trusting
            // them, before giving up on finding main content.
            tracing::debug!("auto: retrying with chrome found by tag and role only");
        }
        if let Some((plan, top)) = plan_with(root, filters, names, title, hinted) {
            let region = match names {
                Names::Distrusted => region_of(top),
                Names::Trusted => format!("{TRUSTED_MARK}{}", region_of(top)),
            };
            let moved = sticky.is_some_and(|old| old != region);
            if moved {
                tracing::debug!(from = sticky.unwrap_or(""), to = %region, "auto: the content moved");
            }
            return Choice {
                plan: Some(plan),
                region: Some(region),
                moved,
            };
        }
    }
    Choice {
        plan: None,
        region: None,
        moved: sticky.is_some(),
    }
}

/// Opens a region chosen trusting class and id words ([`Names::Trusted`]);
/// a tag name cannot start with it.
const TRUSTED_MARK: char = '!';

/// A region: the element's path from the document root by tag and position
/// among same-tag siblings (`html:0/body:0/div:2/td:1`), then its tag, id
/// and class, so a redesign that reuses the path is not mistaken for it.
fn region_of(node: NodeRef<'_>) -> String {
    let mut steps = Vec::new();
    let mut current = Some(node);
    while let Some(n) = current {
        let Some(element) = n.value().as_element() else {
            break;
        };
        let nth = n
            .prev_siblings()
            .filter(|s| {
                s.value()
                    .as_element()
                    .is_some_and(|e| e.name() == element.name())
            })
            .count();
        steps.push(format!("{}:{nth}", element.name()));
        current = n.parent();
    }
    steps.reverse();
    let element = node.value().as_element();
    format!(
        "{}|{}#{}.{}",
        steps.join("/"),
        element.map_or("", |e| e.name()),
        element.and_then(|e| e.id()).unwrap_or(""),
        element.and_then(|e| e.attr("class")).unwrap_or("")
    )
}

/// The element a region names in this document, if it is still there with
/// the same tag, id and class.
fn resolve<'a>(root: NodeRef<'a>, region: &str) -> Option<NodeRef<'a>> {
    let (path, fingerprint) = region.split_once('|')?;
    let mut node = root;
    for step in path.split('/') {
        let (name, nth) = step.split_once(':')?;
        let nth: usize = nth.parse().ok()?;
        node = node
            .children()
            .filter(|c| c.value().as_element().is_some_and(|e| e.name() == name))
            .nth(nth)?;
    }
    (region_of(node).split_once('|').map(|(_, f)| f) == Some(fingerprint)).then_some(node)
}

/// Whether class and id words may mark an element as chrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// They may: `class="sidebar"` is dropped unseen.
    Distrusted,
    /// Only tags (`nav`, `aside`, `footer`) and ARIA roles mark chrome.
    Trusted,
}

fn plan_with<'a>(
    root: NodeRef<'a>,
    filters: &Filters,
    names: Names,
    title: Option<&str>,
    sticky: Option<NodeRef<'a>>,
) -> Option<(Plan, NodeRef<'a>)> {
    let mut plan = Plan::default();
    let mut arena = build(root, filters, names, &mut plan);
    sum_up(&mut arena);
    score(&mut arena);
    let fresh = choose(&arena).map(|top| climb(&arena, top));
    // The remembered region, if it is in the arena and not clearly
    // outgrown by what the page now holds.
    let sticky = sticky
        .and_then(|node| arena.iter().position(|info| info.node == node))
        .filter(|&s| {
            arena[s].text_len > 0
                && fresh
                    .as_ref()
                    .is_none_or(|(top, _)| arena[s].text_len * 2 >= arena[*top].text_len)
        });
    let (top, kept) = match (sticky, fresh) {
        (Some(s), Some((top, kept))) if s == top => (top, kept),
        // Around a remembered region, a sibling that outscores it is the
        // block that tried to outgrow it, not more of the same.
        (Some(s), _) => {
            let mut kept = siblings(&arena, s);
            kept.retain(|&i| i == s || !arena[i].candidate || arena[i].score <= arena[s].score);
            (s, kept)
        }
        (None, Some(fresh)) => fresh,
        (None, None) => {
            tracing::debug!(?names, "auto: no paragraph to score");
            return None;
        }
    };
    let kept_len: u32 = kept.iter().map(|&i| arena[i].text_len).sum();
    let describe = |i: usize| {
        let element = arena[i].node.value().as_element();
        format!(
            "{}#{}.{} score {:.1}",
            arena[i].name,
            element.and_then(|e| e.id()).unwrap_or(""),
            element.and_then(|e| e.attr("class")).unwrap_or(""),
            arena[i].score
        )
    };
    tracing::debug!(top = %describe(top), n_kept = kept.len(), kept_len, "auto: main content");
    // A short statement is still the statement when it holds most of the
    // page's prose (a two-paragraph statement among menus); a short block
    // among many (a teaser on a home page) is not the page's content.
    let short_but_alone = |plan: &Plan| {
        let (kept_prose, all_prose) = prose(&arena, &kept, plan);
        tracing::debug!(kept_prose, all_prose, "auto: short content");
        kept_prose * 2 > all_prose
    };
    // A remembered region is known to be the statement, however short.
    let known = sticky.is_some();
    if kept_len < MIN_CONTENT_LEN && !known && !short_but_alone(&plan) {
        tracing::debug!("auto: too short, keeping the full page");
        return None;
    }
    for &i in &kept {
        plan.keep.insert(key(arena[i].node));
    }
    let cut_len = prune(&arena, &kept, &mut plan);
    if kept_len - cut_len < MIN_CONTENT_LEN && !known && !short_but_alone(&plan) {
        tracing::debug!(
            cut_len,
            "auto: too short once pruned, keeping the full page"
        );
        return None;
    }
    if let Some(h1) = headline(&arena, kept[0], title) {
        plan.keep.insert(key(arena[h1].node));
    }
    captions(&arena, &kept, &mut plan);
    Some((plan, arena[top].node))
}

/// The chosen top and its kept siblings, moved up while the kept blocks
/// are all of their parent's text: the parent is then the content, and its
/// own siblings may hold the lead paragraph or the headline (pages that
/// split them off into a header block).
fn climb(arena: &[Info<'_>], mut top: usize) -> (usize, Vec<usize>) {
    let mut kept = siblings(arena, top);
    while let Some(parent) = arena[top].parent {
        let kept_len: u32 = kept.iter().map(|&i| arena[i].text_len).sum();
        if matches!(arena[parent].name, "body" | "html") || kept_len < arena[parent].text_len {
            break;
        }
        top = parent;
        kept = siblings(arena, top);
    }
    (top, kept)
}

/// One pre-order pass: the arena of visible, non-chrome elements, with the
/// text of each text node credited to its owning block. Chrome subtrees go
/// to `plan.drop` and are not entered.
fn build<'a>(root: NodeRef<'a>, filters: &Filters, names: Names, plan: &mut Plan) -> Vec<Info<'a>> {
    let mut arena: Vec<Info<'a>> = Vec::new();
    // Arena index of each open element on the path from the root.
    let mut path: Vec<usize> = Vec::new();
    let mut node = root;
    'walk: loop {
        let mut descend = false;
        match node.value() {
            Node::Document | Node::Fragment => descend = true,
            Node::Text(text) => {
                if let Some(&parent) = path.last() {
                    let (len, commas) = weighted_len(text);
                    let owner = arena[parent].owner;
                    arena[owner].own_len += len;
                    // Commas mark prose; in link text ("1、…" in a ranked
                    // list of headlines) they do not.
                    if !arena[parent].in_link {
                        arena[owner].own_commas += commas;
                    }
                    if arena[parent].in_link {
                        arena[parent].link_len += len;
                    }
                }
            }
            Node::Element(element) => {
                let name = element.name();
                let parent = path.last().copied();
                let in_table =
                    parent.is_some_and(|p| arena[p].in_table || arena[p].name == "table");
                let visible = !is_dropped(name) && !is_hidden(element);
                let excluded = visible && !filters.exclude.is_empty() && {
                    let element_ref = scraper::ElementRef::wrap(node)
                        .expect("the node holds an element: matched just above");
                    filters.exclude.iter().any(|s| s.matches(&element_ref))
                };
                if visible && !excluded && is_chrome(element, in_table, names) {
                    plan.drop.insert(key(node));
                } else if visible && !excluded {
                    let index = arena.len();
                    let (class, id) = class_and_id(element);
                    let owner = match parent {
                        Some(p) if !owns_text(name) => arena[p].owner,
                        _ => index,
                    };
                    arena.push(Info {
                        node,
                        name,
                        parent,
                        owner,
                        in_link: name == "a" || parent.is_some_and(|p| arena[p].in_link),
                        in_table,
                        class_weight: class_weight(class, id),
                        own_len: 0,
                        own_commas: 0,
                        text_len: 0,
                        link_len: 0,
                        commas: 0,
                        paragraphs: u32::from(name == "p"),
                        list_items: u32::from(name == "li"),
                        links: u32::from(name == "a"),
                        images: u32::from(name == "img"),
                        score: 0.0,
                        candidate: false,
                    });
                    path.push(index);
                    descend = true;
                }
            }
            Node::Doctype(_) | Node::Comment(_) | Node::ProcessingInstruction(_) => {}
        }
        if descend {
            if let Some(child) = node.first_child() {
                node = child;
                continue;
            }
            if matches!(node.value(), Node::Element(_)) {
                path.pop();
            }
        }
        loop {
            if node == root {
                break 'walk;
            }
            if let Some(sibling) = node.next_sibling() {
                node = sibling;
                continue 'walk;
            }
            match node.parent() {
                Some(parent) => {
                    node = parent;
                    if matches!(node.value(), Node::Element(_)) {
                        path.pop();
                    }
                }
                None => break 'walk,
            }
        }
    }
    arena
}

/// Children come after their parents in the arena, so one backward sweep
/// totals every subtree.
fn sum_up(arena: &mut [Info<'_>]) {
    for info in arena.iter_mut() {
        info.text_len += info.own_len;
        info.commas += info.own_commas;
    }
    for i in (0..arena.len()).rev() {
        if let Some(p) = arena[i].parent {
            let (text, link, commas, paragraphs, items, links, images) = {
                let c = &arena[i];
                (
                    c.text_len,
                    c.link_len,
                    c.commas,
                    c.paragraphs,
                    c.list_items,
                    c.links,
                    c.images,
                )
            };
            let parent = &mut arena[p];
            parent.text_len += text;
            parent.link_len += link;
            parent.commas += commas;
            parent.paragraphs += paragraphs;
            parent.list_items += items;
            parent.links += links;
            parent.images += images;
        }
    }
}

/// Readability's base score of a container by its tag.
fn tag_score(name: &str) -> f32 {
    match name {
        "div" | "article" | "main" | "section" => 5.0,
        "pre" | "td" | "blockquote" => 3.0,
        "address" | "ol" | "ul" | "dl" | "dd" | "dt" | "li" | "form" => -3.0,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "th" => -5.0,
        _ => 0.0,
    }
}

/// Every paragraph votes for its five nearest ancestors (full, half, then
/// a third per level); each candidate is then scaled by its text share
/// outside links.
fn score(arena: &mut [Info<'_>]) {
    for i in 0..arena.len() {
        let len = arena[i].own_len;
        if arena[i].owner != i || len < MIN_PARAGRAPH_LEN || arena[i].name.starts_with('h') {
            continue;
        }
        let vote = 1.0 + arena[i].own_commas as f32 + (len / 100).min(3) as f32;
        let mut ancestor = arena[i].parent;
        let mut level = 0;
        while let Some(a) = ancestor {
            if level >= 5 || matches!(arena[a].name, "html") {
                break;
            }
            let info = &mut arena[a];
            if !info.candidate {
                info.candidate = true;
                info.score = tag_score(info.name) + info.class_weight;
            }
            info.score += match level {
                0 => vote,
                1 => vote / 2.0,
                _ => vote / (level as f32 * 3.0),
            };
            ancestor = info.parent;
            level += 1;
        }
    }
    for info in arena.iter_mut().filter(|info| info.candidate) {
        info.score *= 1.0 - info.link_density();
    }
}

/// The best candidate, moved up when the runners-up share an ancestor or
/// its parent scores higher, and past parents that only wrap it.
fn choose(arena: &[Info<'_>]) -> Option<usize> {
    // Ties go to the earlier element, so the choice is deterministic.
    let mut top: Option<usize> = None;
    for (i, info) in arena.iter().enumerate() {
        if info.candidate && info.name != "body" && top.is_none_or(|t| info.score > arena[t].score)
        {
            top = Some(i);
        }
    }
    let mut top = top?;
    let ancestors = |mut i: usize| {
        let mut list = Vec::new();
        while let Some(p) = arena[i].parent {
            list.push(p);
            i = p;
        }
        list
    };
    // Runners-up: if three of them share an ancestor with the top, the
    // content is split across siblings and that ancestor holds it all.
    // Only the next four best count, as in Readability: that also bounds
    // the work on a page of thousands of equal blocks.
    let mut best: Vec<usize> = (0..arena.len())
        .filter(|&i| i != top && arena[i].candidate && arena[i].score >= arena[top].score * 0.75)
        .collect();
    best.sort_by(|&a, &b| arena[b].score.total_cmp(&arena[a].score).then(a.cmp(&b)));
    best.truncate(4);
    let runners: Vec<Vec<usize>> = best.into_iter().map(ancestors).collect();
    if runners.len() >= 3 {
        for a in ancestors(top) {
            if arena[a].name == "body" || arena[a].name == "html" {
                break;
            }
            let sharing = runners.iter().filter(|list| list.contains(&a)).count();
            if sharing >= 3 {
                top = a;
                break;
            }
        }
    }
    // Climb while a parent scores higher than what it wraps.
    let threshold = arena[top].score / 3.0;
    let mut last = arena[top].score;
    let mut parent = arena[top].parent;
    while let Some(p) = parent {
        if arena[p].name == "body" || arena[p].name == "html" {
            break;
        }
        if !arena[p].candidate {
            parent = arena[p].parent;
            continue;
        }
        if arena[p].score < threshold {
            break;
        }
        if arena[p].score > last {
            top = p;
            break;
        }
        last = arena[p].score;
        parent = arena[p].parent;
    }
    // A parent whose only visible child is the top holds the same text.
    while let Some(p) = arena[top].parent {
        if arena[p].name == "body"
            || arena[p].name == "html"
            || arena[p].text_len != arena[top].text_len
        {
            break;
        }
        top = p;
    }
    Some(top)
}

/// The top candidate and those of its siblings that look like more of the
/// same, in document order.
fn siblings(arena: &[Info<'_>], top: usize) -> Vec<usize> {
    let Some(parent) = arena[top].parent else {
        return vec![top];
    };
    let threshold = (arena[top].score * 0.2).max(10.0);
    let top_class = arena[top]
        .node
        .value()
        .as_element()
        .and_then(|e| e.attr("class"));
    let children: Vec<usize> = arena
        .iter()
        .enumerate()
        .skip(parent + 1)
        .filter(|(_, info)| info.parent == Some(parent))
        .map(|(i, _)| i)
        .collect();
    // The run of link-free blocks right before the content is its heading
    // and date line: table layouts and div soups keep them in rows or
    // divs of their own, too short to score. A small bar of links between
    // them and the content (a font-size switch) is passed over, not kept.
    let at = children.iter().position(|&i| i == top).unwrap_or(0);
    let mut lead = Vec::new();
    for &i in children[..at].iter().rev() {
        let info = &arena[i];
        if info.link_len == 0 {
            if info.text_len > 0 {
                lead.push(i);
            }
        } else if !link_bar(info) {
            break;
        }
    }
    let mut kept = Vec::new();
    for &i in &children {
        let info = &arena[i];
        if i == top || lead.contains(&i) {
            kept.push(i);
            continue;
        }
        let class = info.node.value().as_element().and_then(|e| e.attr("class"));
        let bonus = if class.is_some() && class == top_class {
            arena[top].score * 0.2
        } else {
            0.0
        };
        let appended = if info.candidate && info.score + bonus >= threshold {
            true
        } else if info.name == "p" || (info.owner == i && info.own_len == info.text_len) {
            let density = info.link_density();
            (info.text_len > 80 && density < 0.25)
                || (info.text_len > 0 && info.text_len <= 80 && density == 0.0 && sentence(info))
        } else {
            false
        };
        if appended {
            kept.push(i);
        }
    }
    kept
}

/// A short row of a few links and nothing else: `[Large Medium Small]`,
/// `Print | Share`.
fn link_bar(info: &Info<'_>) -> bool {
    info.links <= 4 && info.text_len <= 40 && info.link_density() >= 0.5
}

/// The weighted length of prose (blocks with a paragraph's worth of their
/// own text, mostly outside links) inside the `kept` subtrees less what
/// the plan cuts from them, and on the whole page.
fn prose(arena: &[Info<'_>], kept: &[usize], plan: &Plan) -> (u32, u32) {
    let mut in_kept = vec![false; arena.len()];
    for &k in kept {
        in_kept[k] = true;
    }
    let (mut kept_len, mut all_len) = (0, 0);
    for (i, info) in arena.iter().enumerate() {
        if let Some(p) = info.parent
            && in_kept[p]
        {
            in_kept[i] = true;
        }
        if plan.drops(info.node) {
            in_kept[i] = false;
        }
        let paragraph = info.owner == i
            && info.own_len >= MIN_PARAGRAPH_LEN
            && !info.in_link
            && info.link_density() < 0.5
            && !furniture(info);
        if paragraph {
            all_len += info.own_len;
            if in_kept[i] {
                kept_len += info.own_len;
            }
        }
    }
    (kept_len, all_len)
}

/// Whether a block's text is page furniture (a copyright line).
fn furniture(info: &Info<'_>) -> bool {
    let text: String = info
        .node
        .descendants()
        .filter_map(|n| n.value().as_text())
        .map(|t| &**t)
        .collect();
    super::boilerplate::is_furniture(&text)
}

/// Whether a short block reads as a sentence (Readability checks for ". ").
fn sentence(info: &Info<'_>) -> bool {
    let mut text = String::new();
    for piece in info.node.descendants().filter_map(|n| n.value().as_text()) {
        text.push_str(piece);
    }
    text.contains(". ") || text.contains('。') || text.trim_end().ends_with('.')
}

/// Cuts containers inside the kept content that are lists of links or
/// negatively named, unless they carry real prose (ten commas or more).
/// Returns the (weighted) length cut.
fn prune(arena: &[Info<'_>], kept: &[usize], plan: &mut Plan) -> u32 {
    let mut cut_len = 0;
    // Parents precede children: one forward pass marks the kept subtrees.
    let mut in_kept = vec![false; arena.len()];
    let mut is_root = vec![false; arena.len()];
    for &k in kept {
        is_root[k] = true;
    }
    for i in kept[0]..arena.len() {
        let root = is_root[i];
        in_kept[i] = root || arena[i].parent.is_some_and(|p| in_kept[p]);
        if !in_kept[i] || root {
            continue;
        }
        let info = &arena[i];
        if !matches!(
            info.name,
            "div" | "section" | "ul" | "ol" | "dl" | "table" | "form" | "fieldset"
        ) {
            continue;
        }
        let weight = info.class_weight;
        let density = info.link_density();
        // A lone short link is a button ("View this Dataset", "Full
        // text"): part of the entry it closes, and its removal is news.
        // A form inside the content (a comment form, a search box) is
        // never the statement; related-article lists and comment threads
        // under their label are not either.
        let cut = if info.name == "form" || related(arena, i) {
            true
        } else if info.commas >= 10 || (info.links < 2 && info.text_len < 40) {
            false
        } else if weight + info.score.max(0.0) < 0.0 {
            true
        } else {
            let list = matches!(info.name, "ul" | "ol" | "dl");
            (weight < 25.0 && density > 0.2 && !(list && density < 0.5))
                || (weight >= 25.0 && density > 0.5)
                || (!list && info.list_items > info.paragraphs.max(1) * 2 && density > 0.1)
        };
        if cut {
            plan.drop.insert(key(info.node));
            // Its descendants are gone with it.
            in_kept[i] = false;
            cut_len += info.text_len;
        }
    }
    cut_len
}

/// Whether container `i` is a list of other articles under a label of its
/// own ("为你推荐", "相关新闻", "Related articles", "Read more"): its first
/// text is such a label.
fn related(arena: &[Info<'_>], i: usize) -> bool {
    static RELATED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^\W*(?:为你推荐|为您推荐|相关新闻|相关阅读|相关文章|相关报道|相关链接|推荐阅读|热门推荐|热点推荐|精彩推荐|猜你喜欢|延伸阅读|更多新闻|热门文章|相關新聞|相關閱讀|延伸閱讀|related|related articles|related stories|related news|related content|read more|more on this|more stories|you may also like|recommended|most read|most popular|see also|further reading|lire aussi|à lire aussi|sur le même sujet|mehr zum thema|auch interessant|das könnte sie auch interessieren|lea también|te puede interesar|читайте также|по теме|comments|kommentare|kommentar schreiben|kommentare schreiben|leave a comment|leave a reply|add a comment|commentaires|comentarios|комментарии|评论|网友评论|发表评论|我要评论)\W*$",
        )
        .expect("static regex compiles")
    });
    let first_text = arena
        .iter()
        .enumerate()
        .skip(i + 1)
        .take_while(|(j, _)| descends_from(arena, *j, i))
        .find(|(j, info)| info.owner == *j && info.own_len > 0);
    // A label, not a button: "Read more" as a link expands the article
    // itself on some sites.
    first_text.is_some_and(|(_, info)| {
        info.own_len <= 60
            && info.link_len == 0
            && !info.in_link
            && RELATED.is_match(block_text(info).trim())
    })
}

fn descends_from(arena: &[Info<'_>], mut i: usize, ancestor: usize) -> bool {
    while let Some(p) = arena[i].parent {
        if p == ancestor {
            return true;
        }
        if p < ancestor {
            return false;
        }
        i = p;
    }
    false
}

/// The page's headline when the content does not include it: the last
/// `h1` before the content starts, else the last block before it whose
/// text is the document's `<title>` (or one part of it: "Headline - Site"),
/// as pages with the headline in a `div` or an `h2` outside the article
/// have it.
fn headline(arena: &[Info<'_>], first: usize, title: Option<&str>) -> Option<usize> {
    let inside = |i: usize| i == first || descends_from(arena, i, first);
    let in_content = arena
        .iter()
        .enumerate()
        .skip(first)
        .take_while(|(i, _)| inside(*i))
        .map(|(_, info)| info);
    let mut has_h1 = false;
    let mut has_heading = false;
    for info in in_content {
        has_h1 |= info.name == "h1";
        has_heading |= matches!(info.name, "h1" | "h2" | "h3");
    }
    if has_h1 {
        return None;
    }
    if let Some(h1) = arena[..first]
        .iter()
        .rposition(|info| info.name == "h1" && info.text_len > 0)
    {
        return Some(h1);
    }
    let title = fold(title?);
    if has_heading || title.is_empty() {
        return None;
    }
    // Blocks of their own text, not links, of a headline's length, looked
    // for backwards from the content (a bounded number of them).
    arena[..first]
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, info)| {
            info.owner == *i
                && (8..=600).contains(&info.own_len)
                && info.link_len == 0
                && !info.in_link
        })
        .take(12)
        .find(|(_, info)| {
            let text = fold(&block_text(info));
            text.chars().count() >= 4
                && (title == text
                    || title
                        .split(['|', '-', '–', '—', '_', '·'])
                        .any(|part| part.trim() == text))
        })
        .map(|(i, _)| i)
}

/// Lower case, whitespace collapsed.
fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The text of a block and its descendants.
fn block_text(info: &Info<'_>) -> String {
    info.node
        .descendants()
        .filter_map(|n| n.value().as_text())
        .map(|t| &**t)
        .collect()
}

/// Photo captions inside the content: a short block without a sentence's
/// end that holds an image, or that follows a block holding only an image
/// (`<p><img></p><p>大会开幕式</p>`). They name the picture, not the
/// statement, and change with every new photo.
fn captions(arena: &[Info<'_>], kept: &[usize], plan: &mut Plan) {
    let mut in_kept = vec![false; arena.len()];
    for &k in kept {
        in_kept[k] = true;
    }
    // The previous element sibling of each element, as the sweep meets them.
    let mut last_child: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (i, info) in arena.iter().enumerate() {
        let Some(parent) = info.parent else {
            continue;
        };
        if in_kept[parent] {
            in_kept[i] = true;
        }
        let previous = last_child.insert(parent, i);
        // A small block of its own: never a kept root, never a container.
        if !in_kept[i]
            || kept.contains(&i)
            || info.owner != i
            || info.own_len == 0
            || info.text_len > 60
        {
            continue;
        }
        let after_image = previous.is_some_and(|p| arena[p].images > 0 && arena[p].text_len == 0);
        if (info.images > 0 || after_image)
            && !ends_sentence(&block_text(info))
            && !heading_like(info.node)
        {
            plan.drop.insert(key(info.node));
        }
    }
}

/// Whether a short block is a section heading rather than a caption: a
/// heading tag, bold text, or a heading-like class (`bjh-h3`, `subtitle`).
fn heading_like(node: NodeRef<'_>) -> bool {
    static HEADING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^|[^a-z])h[1-6](?:$|[^0-9])|title|heading|strong|bold")
            .expect("static regex compiles")
    });
    node.descendants()
        .filter_map(|n| n.value().as_element())
        .any(|e| {
            matches!(
                e.name(),
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "strong" | "b"
            ) || e.attr("class").is_some_and(|c| HEADING.is_match(c))
        })
}

/// Whether a text ends like a sentence.
fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .ends_with(['.', '。', '!', '！', '?', '？', ':', '：', ';', '；'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition `weighted_len` implements, a character at a time.
    fn weighted_len_by_char(text: &str) -> (u32, u32) {
        let (mut len, mut commas, mut previous) = (0, 0, ' ');
        for c in text.chars() {
            if !c.is_whitespace() {
                len += if is_cjk(c) { 3 } else { 1 };
                let numbering = c == '、' && previous.is_ascii_digit();
                if matches!(c, ',' | '，' | '、' | '،' | '﹐' | '﹑' | '､') && !numbering {
                    commas += 1;
                }
            }
            previous = c;
        }
        (len, commas)
    }

    #[test]
    fn weighted_len_counts_as_the_definition_does() {
        let samples = [
            "",
            "  \t\n\u{b}\u{c}\r ",
            "On 30 July 2020, Ambassador Liu held a press conference, online.",
            "1、中国 2、英国, 3 、 4\u{3000}、外交部发言人，答记者问。",
            "한국어 텍스트, 日本語のテキスト、ひらがな",
            "\u{a0}nbsp\u{2003}em\u{85}next\u{2028}line 2、x 9\u{a0}、y",
            "مرحبا، بالعالم﹐ ﹑ ､ 𠀀𪚥",
        ];
        for text in samples {
            assert_eq!(weighted_len(text), weighted_len_by_char(text), "{text:?}");
        }
        // Every pairing of a few characters that sit on the rules' edges.
        let edge = [
            'a', '7', ',', ' ', '\t', '\u{b}', '、', '，', '中', '\u{a0}', '\u{3000}', 'é',
        ];
        for a in edge {
            for b in edge {
                for c in edge {
                    let text: String = [a, b, c].iter().collect();
                    assert_eq!(weighted_len(&text), weighted_len_by_char(&text), "{text:?}");
                }
            }
        }
    }
}
