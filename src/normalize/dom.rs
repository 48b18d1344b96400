//! The element vocabulary both text walks share (the `full` walk in
//! [`super::html`] and the main-content scorer in [`super::extract`]):
//! which elements a reader never sees, which start a line, which keep their
//! line breaks, and what hides an element. Pure functions of one element.

use scraper::ElementRef;

/// ego_tree's node handle, named through scraper (ego_tree is not a direct
/// dependency).
pub(crate) type NodeRef<'a> = <ElementRef<'a> as std::ops::Deref>::Target;

/// Elements whose content a reader never sees as text.
///
/// Beyond scripts and embedded media: `button`, `select`/`option`,
/// `datalist`, `textarea` and `input` are controls whose labels are
/// interface chrome ("Menu", "Search", a 200-country dropdown) and change
/// with site redesigns, not with the statement; `rt`/`rp` are ruby
/// annotations (furigana), which would split every annotated word; a
/// `dialog` without `open` is not rendered.
pub(crate) fn is_dropped(name: &str) -> bool {
    matches!(
        name,
        "head"
            | "script"
            | "style"
            | "noscript"
            | "template"
            | "svg"
            | "math"
            | "iframe"
            | "frame"
            | "noframes"
            | "object"
            | "embed"
            | "applet"
            | "canvas"
            | "audio"
            | "video"
            | "picture"
            | "map"
            | "select"
            | "option"
            | "optgroup"
            | "datalist"
            | "button"
            | "textarea"
            | "input"
            | "rt"
            | "rp"
    )
}

/// Elements that start and end a line.
pub(crate) fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "body"
            | "caption"
            | "center"
            | "dd"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "legend"
            | "li"
            | "listing"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "plaintext"
            | "pre"
            | "search"
            | "section"
            | "summary"
            | "table"
            | "tbody"
            | "tfoot"
            | "thead"
            | "title"
            | "tr"
            | "ul"
            | "xmp"
    )
}

/// Elements whose text keeps its line breaks.
pub(crate) fn is_preformatted(name: &str) -> bool {
    matches!(name, "pre" | "listing" | "plaintext" | "xmp")
}

/// Hidden by attribute: `hidden`, `aria-hidden="true"`, an inline style
/// with `display: none` or `visibility: hidden`, `<input type=hidden>`,
/// a `<dialog>` that is not `open`.
pub(crate) fn is_hidden(element: &scraper::node::Element) -> bool {
    let mut dialog_open = false;
    for (name, value) in element.attrs() {
        match name {
            "hidden" => return true,
            "aria-hidden" if value.trim().eq_ignore_ascii_case("true") => return true,
            "style" if style_hides(value) => return true,
            "type" if element.name() == "input" && value.trim().eq_ignore_ascii_case("hidden") => {
                return true;
            }
            "open" => dialog_open = true,
            _ => {}
        }
    }
    element.name() == "dialog" && !dialog_open
}

/// Whether an inline `style` declares `display: none` or
/// `visibility: hidden` (any case, any spacing, `!important` or not).
fn style_hides(style: &str) -> bool {
    style.split(';').any(|declaration| {
        let Some((property, value)) = declaration.split_once(':') else {
            return false;
        };
        let value = strip_important(value.trim());
        let property = property.trim();
        (property.eq_ignore_ascii_case("display") && value.eq_ignore_ascii_case("none"))
            || (property.eq_ignore_ascii_case("visibility") && value.eq_ignore_ascii_case("hidden"))
    })
}

/// A CSS value without its `!important` (which may have spaces after `!`).
fn strip_important(value: &str) -> &str {
    let keyword = "important";
    let Some(at) = value.len().checked_sub(keyword.len()) else {
        return value;
    };
    if !value.is_char_boundary(at) || !value[at..].eq_ignore_ascii_case(keyword) {
        return value;
    }
    match value[..at].trim_end().strip_suffix('!') {
        Some(rest) => rest.trim_end(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_hiding_rules() {
        assert!(style_hides("display:none"));
        assert!(style_hides(" color: red ;Display : NONE ! important"));
        assert!(style_hides("visibility:hidden!important"));
        assert!(!style_hides("display:block; --display:none"));
        assert!(!style_hides("max-visibility:hidden; display: inline"));
    }
}
