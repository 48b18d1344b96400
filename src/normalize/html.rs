//! HTML (and, for now, XML) to the text a reader sees.
//!
//! One iterative pre-order walk over scraper's tree (no recursion, so a page
//! of 100,000 nested `<div>`s cannot overflow the stack). Invisible and
//! excluded subtrees are skipped without being visited; block elements end
//! lines; table cells of a row are joined with ` | `; text nodes go straight
//! into [`Lines`] without per-node allocations.

use scraper::{ElementRef, Html, Node};

use super::depth;
use super::dom::{NodeRef, is_block, is_dropped, is_hidden, is_preformatted};
use super::extract::{self, Plan};
use super::text::Lines;
use super::{Content, Filters};

/// Which tag set gets its own lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Markup {
    /// HTML block elements.
    Html,
    /// Every element: XML has no notion of inline, and one element per
    /// line keeps feed entries apart.
    Xml,
}

/// The visible text and the `<title>` (not yet NFC).
pub(crate) struct Extracted {
    pub(crate) text: String,
    pub(crate) title: Option<String>,
    /// With `content = "auto"`: where the content was found.
    pub(crate) region: Option<String>,
    /// A remembered region was given and the content is elsewhere now.
    pub(crate) region_moved: bool,
}

/// Extracts a document's text under `filters` (select, exclude; `ignore`
/// applies later, to the text).
pub(crate) fn extract(
    source: &str,
    filters: &Filters,
    markup: Markup,
    sticky: Option<&str>,
) -> Extracted {
    // A selector may name any attribute; otherwise only the ones read here
    // and by the parser reach it (XML keeps all: it has no such rules).
    let attributes =
        if markup == Markup::Html && filters.select.is_empty() && filters.exclude.is_empty() {
            depth::Attributes::Read
        } else {
            depth::Attributes::All
        };
    extract_as(source, filters, markup, sticky, attributes)
}

/// [`extract`], with the parser given `attributes`.
fn extract_as(
    source: &str,
    filters: &Filters,
    markup: Markup,
    sticky: Option<&str>,
    attributes: depth::Attributes,
) -> Extracted {
    let unwrapped;
    let source = match markup {
        // CDATA is a bogus comment to the HTML parser; feeds keep their
        // entries' HTML in it, so unwrap it and let that HTML parse.
        Markup::Xml if source.contains("<![CDATA[") => {
            unwrapped = source.replace("<![CDATA[", "").replace("]]>", "");
            &unwrapped
        }
        Markup::Xml | Markup::Html => source,
    };
    let document = Html::parse_document(&depth::prepare(source, attributes));
    let title = title(&document);
    let root = document.tree.root();
    // `select` overrides `content`; XML has no page chrome to find.
    let choice =
        (filters.select.is_empty() && filters.content == Content::Auto && markup == Markup::Html)
            .then(|| extract::plan(root, filters, title.as_deref(), sticky));
    let (plan, region, region_moved) = match choice {
        Some(c) => (c.plan, c.region, c.moved),
        None => (None, None, false),
    };
    let text = walk(root, filters, plan.as_ref(), markup, source.len());
    Extracted {
        text,
        title,
        region,
        region_moved,
    }
}

/// The first `<title>` in `<head>`, whitespace-collapsed; `None` if blank.
fn title(document: &Html) -> Option<String> {
    let root = document.root_element();
    let head = root.child_elements().find(|e| e.value().name() == "head")?;
    let title = head
        .child_elements()
        .find(|e| e.value().name() == "title")?;
    let mut lines = Lines::default();
    for text in title.text() {
        lines.push_text(text);
    }
    Some(lines.finish()).filter(|t| !t.is_empty())
}

/// What the walk does on entering a node.
enum Enter {
    /// Visit the children (then leave the node).
    Descend,
    /// Skip the node and its subtree.
    Skip,
}

struct Walker<'a, 'f> {
    filters: &'f Filters,
    /// The main content, under `content = "auto"` when one was found.
    plan: Option<&'f Plan>,
    markup: Markup,
    lines: Lines,
    /// The `select` match we are inside, if `select` is in use.
    selected: Option<NodeRef<'a>>,
    /// Open preformatted elements.
    pre_depth: usize,
}

impl<'a> Walker<'a, '_> {
    /// Text is kept when there is no `select` (or plan), or inside a match.
    fn keeping(&self) -> bool {
        (self.filters.select.is_empty() && self.plan.is_none()) || self.selected.is_some()
    }

    fn enter(&mut self, node: NodeRef<'a>) -> Enter {
        let element = match node.value() {
            Node::Text(text) => {
                if self.keeping() {
                    if self.pre_depth > 0 {
                        self.lines.push_preformatted(text);
                    } else {
                        self.lines.push_text(text);
                    }
                }
                return Enter::Skip;
            }
            Node::Element(element) => element,
            Node::Document | Node::Fragment => return Enter::Descend,
            Node::Doctype(_) | Node::Comment(_) | Node::ProcessingInstruction(_) => {
                return Enter::Skip;
            }
        };
        let name = element.name();
        if is_dropped(name) || is_hidden(element) {
            return Enter::Skip;
        }
        if let Some(plan) = self.plan {
            if plan.drops(node) {
                return Enter::Skip;
            }
            if self.selected.is_none() && plan.keeps(node) {
                self.selected = Some(node);
                self.lines.line_break();
            }
        }
        let needs_match = !self.filters.exclude.is_empty()
            || (!self.filters.select.is_empty() && self.selected.is_none());
        if needs_match {
            let element_ref =
                ElementRef::wrap(node).expect("the node holds an element: matched just above");
            if self.filters.exclude.iter().any(|s| s.matches(&element_ref)) {
                return Enter::Skip;
            }
            if self.selected.is_none()
                && self.filters.select.iter().any(|s| s.matches(&element_ref))
            {
                self.selected = Some(node);
                self.lines.line_break();
            }
        }
        if name == "br" || self.markup == Markup::Xml || is_block(name) {
            self.lines.line_break();
        } else if name == "td" || name == "th" {
            self.lines.cell();
        }
        if is_preformatted(name) {
            self.pre_depth += 1;
        }
        Enter::Descend
    }

    /// Leaves a node that was entered with [`Enter::Descend`].
    fn leave(&mut self, node: NodeRef<'a>) {
        let Node::Element(element) = node.value() else {
            return;
        };
        let name = element.name();
        if self.markup == Markup::Xml || is_block(name) {
            self.lines.line_break();
        }
        if is_preformatted(name) {
            self.pre_depth -= 1;
        }
        if self.selected == Some(node) {
            self.selected = None;
            self.lines.line_break();
        }
    }
}

/// Pre-order walk with explicit first-child / next-sibling / parent moves:
/// constant stack, and skipped subtrees are never visited.
fn walk(
    root: NodeRef<'_>,
    filters: &Filters,
    plan: Option<&Plan>,
    markup: Markup,
    source_len: usize,
) -> String {
    let mut walker = Walker {
        filters,
        plan,
        markup,
        // Visible text is usually well under half of the markup.
        lines: Lines::with_capacity(source_len / 4),
        selected: None,
        pre_depth: 0,
    };
    let mut node = root;
    'walk: loop {
        if let Enter::Descend = walker.enter(node) {
            if let Some(child) = node.first_child() {
                node = child;
                continue;
            }
            walker.leave(node);
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
                    walker.leave(node);
                }
                None => break 'walk,
            }
        }
    }
    walker.lines.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_iterative() {
        // Spans parse in linear time, so this reaches the walk at full depth
        // (no depth cap here); a recursive walk would overflow 256 KiB.
        let depth = 100_000;
        let body = format!("{}deep{}", "<span>".repeat(depth), "</span>".repeat(depth));
        let text = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let document = Html::parse_document(&body);
                walk(
                    document.tree.root(),
                    &Filters::default(),
                    None,
                    Markup::Html,
                    body.len(),
                )
            })
            .expect("spawn test thread")
            .join()
            .expect("no stack overflow");
        assert_eq!(text, "deep");
    }

    /// Every HTML page under tests/fixtures (real pages: statements,
    /// ministries' home pages, legacy charsets), both content modes: the
    /// same text, title and region whether the parser gets every attribute
    /// or only the read ones.
    #[test]
    fn unread_attributes_change_nothing_on_real_pages() {
        fn pages(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("fixtures dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    pages(&path, out);
                } else if path.extension().is_some_and(|e| e == "html" || e == "htm") {
                    out.push(path);
                }
            }
        }
        let mut paths = Vec::new();
        pages(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut paths,
        );
        assert!(paths.len() >= 10, "{} pages", paths.len());
        let mut cut = 0;
        for path in &paths {
            let body = std::fs::read(path).expect("fixture");
            let source = super::super::charset::decode(&body, None, None).text;
            let read = depth::prepare(&source, depth::Attributes::Read).len();
            cut += depth::prepare(&source, depth::Attributes::All).len() - read;
            for content in [Content::Auto, Content::Full] {
                let filters = Filters {
                    content,
                    ..Filters::default()
                };
                let [all, some] =
                    [depth::Attributes::All, depth::Attributes::Read].map(|attributes| {
                        extract_as(&source, &filters, Markup::Html, None, attributes)
                    });
                let name = path.display();
                assert_eq!(all.text, some.text, "{name} {content:?}");
                assert_eq!(all.title, some.title, "{name}");
                assert_eq!(all.region, some.region, "{name}");
            }
        }
        assert!(cut > 100_000, "the pages' attributes were cut: {cut} bytes");
    }
}
