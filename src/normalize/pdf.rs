//! PDF statements → text lines.
//!
//! lopdf parses the file (cross-reference repair, decryption with the empty
//! user password, fonts, ToUnicode and predefined CJK CMaps, decompression
//! under a byte limit); the layout is ours: a small content-stream
//! interpreter follows the text and graphics matrices and starts a new line
//! whenever the baseline moves, so a PDF reads as one line per printed line,
//! in content order (which is reading order for the generators that matter:
//! Word, InDesign, LaTeX, reportlab). lopdf's own `extract_text` only breaks
//! lines at `ET`/`T*`, which glues whole paragraphs or splits table cells.
//! See `docs/pdf.md` for the measurements behind the choice.
//!
//! Every cost is bounded by counts, not by a clock (normalize reads no
//! clock, so the same bytes always give the same outcome): pages, inflated
//! bytes per stream and in all, content operators, nesting of forms and
//! graphics states. A PDF past a bound is refused with a reason; a panic
//! inside the parser is caught and becomes a reason too.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{Dictionary, Document, Encoding, LoadOptions, Object, Stream};

/// What any one stream may inflate to while the file is loaded (object and
/// cross-reference streams, fonts' CMaps).
const MAX_STREAM_BYTES: usize = 32 << 20;
/// Form XObjects inside form XObjects.
const MAX_FORM_DEPTH: usize = 8;
/// Saved graphics states (`q`) kept; deeper saves are counted, not stored.
const MAX_SAVED_STATES: usize = 256;
/// The XMP packet read for a title.
const MAX_XMP_BYTES: usize = 1 << 20;

/// The bounds on one PDF's cost. Counts, not time: the same bytes always
/// give the same outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) pages: usize,
    /// What all page and form content together may inflate to.
    pub(crate) content_bytes: usize,
    /// Content operators interpreted over the whole document.
    pub(crate) operations: usize,
}

impl Limits {
    /// More than any statement needs, and each reached in about a second
    /// (release build; figures in `docs/pdf.md`). A 100,000-page PDF or a
    /// 1 GiB content stream would otherwise cost minutes.
    pub(crate) const DEFAULT: Limits = Limits {
        pages: 2_000,
        content_bytes: 64 << 20,
        operations: 5_000_000,
    };
}

/// The text of a PDF and its title.
#[derive(Debug)]
pub(crate) struct Extracted {
    /// Lines separated by `\n`, not yet cleaned.
    pub(crate) text: String,
    /// The document title from the info dictionary, else from XMP.
    pub(crate) title: Option<String>,
}

/// Extracts the text lines of a PDF, or says why there are none.
pub(crate) fn extract(body: &[u8]) -> Result<Extracted, String> {
    extract_within(body, &Limits::DEFAULT)
}

pub(crate) fn extract_within(body: &[u8], limits: &Limits) -> Result<Extracted, String> {
    // A parser bug on a hostile file must cost one failed check, not the
    // daemon.
    catch_unwind(AssertUnwindSafe(|| extract_unguarded(body, limits)))
        .unwrap_or_else(|_| Err("the PDF parser failed on this file".to_owned()))
}

fn extract_unguarded(body: &[u8], limits: &Limits) -> Result<Extracted, String> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_STREAM_BYTES),
        ..LoadOptions::default()
    };
    let doc = Document::load_mem_with_options(body, options).map_err(|e| match e {
        lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
            format!("a stream inflates past {} MiB", MAX_STREAM_BYTES >> 20)
        }
        e => format!("the PDF cannot be parsed ({e})"),
    })?;
    // lopdf already tried the empty user password; still encrypted means
    // the file needs a password we do not have.
    if doc.is_encrypted() {
        return Err("the PDF is encrypted and needs a password".to_owned());
    }
    let mut pages = Vec::new();
    for page in doc.page_iter() {
        if pages.len() == limits.pages {
            return Err(format!("the PDF has more than {} pages", limits.pages));
        }
        pages.push(page);
    }
    if pages.is_empty() {
        return Err("the PDF has no pages (damaged or truncated?)".to_owned());
    }

    let mut reader = Reader::new(&doc, *limits);
    for page in pages {
        let resources = page_resources(&doc, page);
        let content = match doc.get_page_content_with_limit(page, reader.content_budget()) {
            Ok(content) => content,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => return Err(reader.content_too_large()),
            // A page whose content cannot be read has no text for us.
            Err(_) => continue,
        };
        reader.content_bytes += content.len();
        reader.run(&content, &resources, Matrix::IDENTITY, 0)?;
        reader.layout.end_line();
    }
    let Reader { layout, .. } = reader;
    if !layout.out.chars().any(|c| !c.is_whitespace()) {
        return Err(if layout.undecodable {
            "the text uses fonts without a Unicode mapping".to_owned()
        } else if layout.saw_image {
            "the pages hold only images (a scan without a text layer?)".to_owned()
        } else {
            "the pages hold no text".to_owned()
        });
    }
    Ok(Extracted {
        text: layout.out,
        title: title(&doc),
    })
}

/// The page's resource dictionaries, nearest first (they are inherited
/// through the page tree).
fn page_resources(doc: &Document, page: lopdf::ObjectId) -> Vec<&Dictionary> {
    let Ok((own, inherited)) = doc.get_page_resources(page) else {
        return Vec::new();
    };
    own.into_iter()
        .chain(
            inherited
                .into_iter()
                .filter_map(|id| doc.get_dictionary(id).ok()),
        )
        .collect()
}

fn deref<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    doc.dereference(object).map_or(object, |(_, o)| o)
}

fn dict_get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key).ok().map(|o| deref(doc, o))
}

fn number(object: &Object) -> Option<f64> {
    object
        .as_float()
        .ok()
        .map(f64::from)
        .filter(|n| n.is_finite())
}

/// A PDF transformation matrix `[a b c d e f]` (row-vector convention).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix([f64; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn translate(tx: f64, ty: f64) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }

    fn from_operands(operands: &[Object]) -> Option<Matrix> {
        let mut m = [0.0; 6];
        if operands.len() < 6 {
            return None;
        }
        for (slot, operand) in m.iter_mut().zip(operands) {
            *slot = number(operand)?;
        }
        Some(Matrix(m))
    }

    /// `self × other`: apply `self` first, then `other`.
    fn then(&self, other: &Matrix) -> Matrix {
        let [a1, b1, c1, d1, e1, f1] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a1 * a2 + b1 * c2,
            a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2,
            c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2,
            e1 * b2 + f1 * d2 + f2,
        ])
    }
}

/// What a font contributes: how its codes become text and how far each
/// code moves the pen.
struct Font<'a> {
    /// `None` when lopdf cannot map the font to Unicode.
    encoding: Option<Encoding<'a>>,
    /// Type0 (composite) fonts use two-byte codes here; simple fonts one.
    two_byte: bool,
    widths: Widths,
    /// Glyph space to text space (1/1000 except for Type3 fonts).
    scale: f64,
}

/// Glyph widths in glyph space, by code.
enum Widths {
    Simple {
        first: u32,
        widths: Vec<f64>,
        missing: f64,
    },
    /// CID font `/W` ranges, sorted by first code: `(first, last, width)`.
    Composite {
        ranges: Vec<(u32, u32, f64)>,
        default: f64,
    },
}

impl Widths {
    fn of(&self, code: u32) -> f64 {
        match self {
            Widths::Simple {
                first,
                widths,
                missing,
            } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .unwrap_or(*missing),
            Widths::Composite { ranges, default } => {
                let i = ranges.partition_point(|&(first, _, _)| first <= code);
                match i.checked_sub(1).map(|i| ranges[i]) {
                    Some((_, last, width)) if code <= last => width,
                    _ => *default,
                }
            }
        }
    }
}

impl<'a> Font<'a> {
    fn load(doc: &'a Document, dict: &'a Dictionary) -> Result<Font<'a>, String> {
        let encoding = match dict.get_font_encoding_with_limit(doc, MAX_STREAM_BYTES) {
            Ok(encoding) => Some(encoding),
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => {
                return Err(format!(
                    "a font inflates past {} MiB",
                    MAX_STREAM_BYTES >> 20
                ));
            }
            Err(_) => None,
        };
        let subtype = dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or_default();
        let two_byte = subtype == b"Type0";
        let scale = if subtype == b"Type3" {
            dict_get(doc, dict, b"FontMatrix")
                .and_then(|m| m.as_array().ok())
                .and_then(|m| m.first())
                .and_then(number)
                .filter(|s| *s > 0.0)
                .unwrap_or(0.001)
        } else {
            0.001
        };
        let widths = if two_byte {
            composite_widths(doc, dict)
        } else {
            simple_widths(doc, dict)
        };
        Ok(Font {
            encoding,
            two_byte,
            widths,
            scale,
        })
    }
}

fn simple_widths(doc: &Document, dict: &Dictionary) -> Widths {
    let first = dict_get(doc, dict, b"FirstChar")
        .and_then(|o| o.as_i64().ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let widths = dict_get(doc, dict, b"Widths")
        .and_then(|o| o.as_array().ok())
        .map(|array| {
            array
                .iter()
                .take(256)
                .map(|w| number(deref(doc, w)).unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    // Without widths (the standard 14 fonts may omit them) half an em is
    // close enough: widths only decide where spaces go between runs.
    let missing = dict_get(doc, dict, b"FontDescriptor")
        .and_then(|d| d.as_dict().ok())
        .and_then(|d| dict_get(doc, d, b"MissingWidth"))
        .and_then(number)
        .filter(|w| *w > 0.0)
        .unwrap_or(500.0);
    Widths::Simple {
        first,
        widths,
        missing,
    }
}

fn composite_widths(doc: &Document, dict: &Dictionary) -> Widths {
    let descendant = dict_get(doc, dict, b"DescendantFonts")
        .and_then(|o| o.as_array().ok())
        .and_then(|a| a.first())
        .and_then(|o| deref(doc, o).as_dict().ok());
    let Some(cid_font) = descendant else {
        return Widths::Composite {
            ranges: Vec::new(),
            default: 1000.0,
        };
    };
    let default = dict_get(doc, cid_font, b"DW")
        .and_then(number)
        .unwrap_or(1000.0);
    let mut ranges = Vec::new();
    if let Some(w) = dict_get(doc, cid_font, b"W").and_then(|o| o.as_array().ok()) {
        let as_code = |o: &Object| {
            deref(doc, o)
                .as_i64()
                .ok()
                .and_then(|n| u32::try_from(n).ok())
        };
        let mut i = 0;
        while i < w.len() {
            let Some(first) = as_code(&w[i]) else { break };
            match w.get(i + 1).map(|o| deref(doc, o)) {
                Some(Object::Array(list)) => {
                    for (k, width) in list.iter().enumerate() {
                        let code = first.saturating_add(k as u32);
                        ranges.push((code, code, number(deref(doc, width)).unwrap_or(default)));
                    }
                    i += 2;
                }
                Some(last) => {
                    let (Some(last), Some(width)) = (
                        as_code(last),
                        w.get(i + 2).and_then(|o| number(deref(doc, o))),
                    ) else {
                        break;
                    };
                    ranges.push((first, last, width));
                    i += 3;
                }
                None => break,
            }
        }
    }
    ranges.sort_by_key(|&(first, _, _)| first);
    Widths::Composite { ranges, default }
}

/// The text state and CTM that `q`/`Q` save and restore.
#[derive(Clone)]
struct GraphicsState {
    ctm: Matrix,
    /// Key into `Reader::fonts` (the font dictionary's address).
    font: Option<usize>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    /// `Tz` / 100.
    h_scale: f64,
    leading: f64,
    rise: f64,
}

/// Interprets content streams into [`Layout`], within the budgets.
struct Reader<'a> {
    doc: &'a Document,
    /// Fonts by the address of their dictionary, which `doc` keeps in place:
    /// pages share fonts, and a CMap is parsed once.
    fonts: HashMap<usize, Font<'a>>,
    limits: Limits,
    content_bytes: usize,
    operations: usize,
    layout: Layout,
}

impl<'a> Reader<'a> {
    fn new(doc: &'a Document, limits: Limits) -> Reader<'a> {
        Reader {
            doc,
            fonts: HashMap::new(),
            limits,
            content_bytes: 0,
            operations: 0,
            layout: Layout::default(),
        }
    }

    fn content_budget(&self) -> usize {
        self.limits.content_bytes.saturating_sub(self.content_bytes)
    }

    fn content_too_large(&self) -> String {
        format!(
            "the page content inflates past {} MiB",
            self.limits.content_bytes >> 20
        )
    }

    /// The font named `name` in `resources`, loaded once.
    fn font(&mut self, resources: &[&'a Dictionary], name: &[u8]) -> Result<Option<usize>, String> {
        let doc = self.doc;
        let found = resources.iter().find_map(|r| {
            dict_get(doc, r, b"Font")
                .and_then(|f| f.as_dict().ok())
                .and_then(|fonts| dict_get(doc, fonts, name))
                .and_then(|f| f.as_dict().ok())
        });
        let Some(dict) = found else { return Ok(None) };
        let key = std::ptr::from_ref(dict) as usize;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.fonts.entry(key) {
            slot.insert(Font::load(doc, dict)?);
        }
        Ok(Some(key))
    }

    /// The XObject named `name` in `resources`.
    fn xobject(&self, resources: &[&'a Dictionary], name: &[u8]) -> Option<&'a Stream> {
        let doc = self.doc;
        resources.iter().find_map(|r| {
            dict_get(doc, r, b"XObject")
                .and_then(|x| x.as_dict().ok())
                .and_then(|xobjects| dict_get(doc, xobjects, name))
                .and_then(|x| x.as_stream().ok())
        })
    }

    fn run(
        &mut self,
        content: &[u8],
        resources: &[&'a Dictionary],
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), String> {
        let mut state = GraphicsState {
            ctm,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            h_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        };
        let mut saved: Vec<GraphicsState> = Vec::new();
        let mut unsaved_depth = 0usize;
        let mut text_matrix = Matrix::IDENTITY;
        let mut line_matrix = Matrix::IDENTITY;

        for operation in lopdf::content::Content::decode_iter(content) {
            // A broken operator ends this stream; what came before stands.
            let Ok(operation) = operation else { break };
            self.operations += 1;
            if self.operations > self.limits.operations {
                return Err(format!(
                    "the PDF has more than {} content operators",
                    self.limits.operations
                ));
            }
            let operands = &operation.operands;
            let n = |i: usize| operands.get(i).and_then(number);
            match operation.operator.as_str() {
                "q" => {
                    if saved.len() < MAX_SAVED_STATES {
                        saved.push(state.clone());
                    } else {
                        unsaved_depth += 1;
                    }
                }
                "Q" => {
                    if unsaved_depth > 0 {
                        unsaved_depth -= 1;
                    } else if let Some(previous) = saved.pop() {
                        state = previous;
                    }
                }
                "cm" => {
                    if let Some(m) = Matrix::from_operands(operands) {
                        state.ctm = m.then(&state.ctm);
                    }
                }
                "BT" => {
                    text_matrix = Matrix::IDENTITY;
                    line_matrix = Matrix::IDENTITY;
                }
                "Tf" => {
                    let name = operands.first().and_then(|o| o.as_name().ok());
                    state.font = match name {
                        Some(name) => self.font(resources, name)?,
                        None => None,
                    };
                    state.size = n(1).unwrap_or(0.0);
                }
                "Tc" => state.char_spacing = n(0).unwrap_or(0.0),
                "Tw" => state.word_spacing = n(0).unwrap_or(0.0),
                "Tz" => state.h_scale = n(0).unwrap_or(100.0) / 100.0,
                "TL" => state.leading = n(0).unwrap_or(0.0),
                "Ts" => state.rise = n(0).unwrap_or(0.0),
                "Td" | "TD" => {
                    let (tx, ty) = (n(0).unwrap_or(0.0), n(1).unwrap_or(0.0));
                    if operation.operator == "TD" {
                        state.leading = -ty;
                    }
                    line_matrix = Matrix::translate(tx, ty).then(&line_matrix);
                    text_matrix = line_matrix;
                }
                "Tm" => {
                    if let Some(m) = Matrix::from_operands(operands) {
                        line_matrix = m;
                        text_matrix = m;
                    }
                }
                "T*" => {
                    line_matrix = Matrix::translate(0.0, -state.leading).then(&line_matrix);
                    text_matrix = line_matrix;
                }
                "Tj" | "'" | "\"" => {
                    if operation.operator != "Tj" {
                        if operation.operator == "\"" {
                            state.word_spacing = n(0).unwrap_or(state.word_spacing);
                            state.char_spacing = n(1).unwrap_or(state.char_spacing);
                        }
                        line_matrix = Matrix::translate(0.0, -state.leading).then(&line_matrix);
                        text_matrix = line_matrix;
                    }
                    if let Some(Ok(bytes)) = operands.last().map(Object::as_str) {
                        self.show(bytes, &state, &mut text_matrix);
                    }
                }
                "TJ" => {
                    let Some(Ok(items)) = operands.first().map(Object::as_array) else {
                        continue;
                    };
                    for item in items {
                        match item {
                            Object::String(bytes, _) => self.show(bytes, &state, &mut text_matrix),
                            other => {
                                if let Some(adjust) = number(other) {
                                    let tx = -adjust / 1000.0 * state.size * state.h_scale;
                                    text_matrix = Matrix::translate(tx, 0.0).then(&text_matrix);
                                }
                            }
                        }
                    }
                }
                "BI" => self.layout.saw_image = true,
                "Do" => {
                    let Some(name) = operands.first().and_then(|o| o.as_name().ok()) else {
                        continue;
                    };
                    let Some(xobject) = self.xobject(resources, name) else {
                        continue;
                    };
                    let subtype = xobject.dict.get(b"Subtype").and_then(Object::as_name);
                    match subtype {
                        Ok(b"Image") => self.layout.saw_image = true,
                        Ok(b"Form") if depth < MAX_FORM_DEPTH => {
                            self.form(xobject, resources, &state, depth)?;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs a form XObject's content in its own coordinate system.
    fn form(
        &mut self,
        form: &'a Stream,
        outer: &[&'a Dictionary],
        state: &GraphicsState,
        depth: usize,
    ) -> Result<(), String> {
        let content = match form.decompressed_content_with_limit(self.content_budget()) {
            Ok(content) => content,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => return Err(self.content_too_large()),
            // Not compressed, or with a filter lopdf lacks.
            Err(_) if form.dict.get(b"Filter").is_err() => form.content.clone(),
            Err(_) => return Ok(()),
        };
        self.content_bytes += content.len();
        let own = dict_get(self.doc, &form.dict, b"Resources").and_then(|r| r.as_dict().ok());
        let resources: Vec<&Dictionary> = match own {
            Some(own) => vec![own],
            // Old PDFs leave a form's resources to the page's.
            None => outer.to_vec(),
        };
        let matrix = dict_get(self.doc, &form.dict, b"Matrix")
            .and_then(|m| m.as_array().ok())
            .and_then(|m| {
                let resolved: Vec<Object> = m.iter().map(|o| deref(self.doc, o).clone()).collect();
                Matrix::from_operands(&resolved)
            })
            .unwrap_or(Matrix::IDENTITY);
        self.run(&content, &resources, matrix.then(&state.ctm), depth + 1)
    }

    /// Shows one string: decodes it, moves the pen, and hands the run to
    /// the layout with where it starts and ends on the page.
    fn show(&mut self, bytes: &[u8], state: &GraphicsState, text_matrix: &mut Matrix) {
        let Some(font) = state.font.and_then(|key| self.fonts.get(&key)) else {
            self.layout.undecodable = true;
            return;
        };
        let mut text = String::new();
        let code_len = if font.two_byte { 2 } else { 1 };
        let decoded = font.encoding.as_ref().is_some_and(|e| {
            // Spacing wider than a thin space between every glyph: the
            // generator spaced the words with `Tc` instead of a space glyph
            // (ghostscript does, in justified text), so glyphs are words.
            if state.char_spacing > 0.15 * state.size.abs() && state.size != 0.0 {
                bytes.chunks(code_len).all(|code| {
                    text.push(' ');
                    e.write_to_string(code, &mut text).is_ok()
                })
            } else {
                e.write_to_string(bytes, &mut text).is_ok()
            }
        });
        if !decoded {
            self.layout.undecodable = true;
        }
        let start = text_matrix.then(&state.ctm);
        let codes = bytes
            .chunks(code_len)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)));
        let mut advance = 0.0;
        for code in codes {
            let mut tx = font.widths.of(code) * font.scale * state.size + state.char_spacing;
            if !font.two_byte && code == 32 {
                tx += state.word_spacing;
            }
            advance += tx * state.h_scale;
        }
        *text_matrix = Matrix::translate(advance, 0.0).then(text_matrix);
        let end = text_matrix.then(&state.ctm);
        // The origin of the run's first and last glyph, raised by `Ts`.
        let rise = |m: &Matrix| (m.0[4] + state.rise * m.0[2], m.0[5] + state.rise * m.0[3]);
        let (x0, y0) = rise(&start);
        let (x1, _) = rise(&end);
        let size = (state.size * start.0[2].hypot(start.0[3])).abs();
        self.layout.push(&text, x0, y0, x1, size);
    }
}

/// Assembles runs into lines: a run on another baseline starts a new line,
/// a visible gap on the same baseline is a space.
#[derive(Default)]
struct Layout {
    out: String,
    last: Option<Run>,
    saw_image: bool,
    /// Some text could not be mapped to Unicode.
    undecodable: bool,
}

/// Where the previous run sat.
struct Run {
    x0: f64,
    x1: f64,
    y: f64,
    size: f64,
    /// Its first characters, to spot the same run drawn twice (fake bold).
    head: String,
}

impl Layout {
    fn push(&mut self, text: &str, x0: f64, y: f64, x1: f64, size: f64) {
        let size = if size > 0.0 { size } else { 1.0 };
        let head: String = text.chars().take(16).collect();
        if let Some(last) = &self.last {
            let same_line = (y - last.y).abs() <= 0.5 * size.max(last.size);
            if !same_line {
                self.end_line();
            } else if head == last.head && !head.is_empty() && (x0 - last.x0).abs() < 0.2 * size {
                // Drawn again at (almost) the same place: shadow or fake bold.
                return;
            } else if x0 - last.x1 > 0.15 * size || x0 < last.x0 - 0.5 * size {
                self.out.push(' ');
            }
        }
        for c in text.chars() {
            match c {
                // Ligatures become their letters, so a search for "official"
                // finds the "ﬃ" of a typeset file.
                '\u{FB00}' => self.out.push_str("ff"),
                '\u{FB01}' => self.out.push_str("fi"),
                '\u{FB02}' => self.out.push_str("fl"),
                '\u{FB03}' => self.out.push_str("ffi"),
                '\u{FB04}' => self.out.push_str("ffl"),
                '\u{FB05}' | '\u{FB06}' => self.out.push_str("st"),
                '\n' | '\r' | '\t' => self.out.push(' '),
                c if c.is_control() => {}
                c => self.out.push(c),
            }
        }
        self.last = Some(Run {
            x0,
            x1,
            y,
            size,
            head,
        });
    }

    fn end_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.last = None;
    }
}

/// The document title: the info dictionary's `/Title`, else XMP `dc:title`.
fn title(doc: &Document) -> Option<String> {
    let info = doc
        .trailer
        .get(b"Info")
        .ok()
        .map(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok());
    let from_info = info
        .and_then(|info| dict_get(doc, info, b"Title"))
        .and_then(|t| lopdf::decode_text_string(t).ok());
    from_info
        .and_then(collapse)
        .or_else(|| xmp_title(doc).and_then(collapse))
}

fn xmp_title(doc: &Document) -> Option<String> {
    let catalog = doc.catalog().ok()?;
    let stream = dict_get(doc, catalog, b"Metadata")?.as_stream().ok()?;
    let bytes = stream
        .decompressed_content_with_limit(MAX_XMP_BYTES)
        .or_else(|_| {
            if stream.content.len() <= MAX_XMP_BYTES {
                Ok(stream.content.clone())
            } else {
                Err(())
            }
        })
        .ok()?;
    let xmp = String::from_utf8_lossy(&bytes);
    let start = xmp.find("<dc:title")?;
    let end = start + xmp[start..].find("</dc:title>")?;
    let inner = &xmp[start..end];
    // The first `rdf:li` (x-default comes first in practice).
    let li = inner.find("<rdf:li")?;
    let open_end = li + inner[li..].find('>')? + 1;
    let close = open_end + inner[open_end..].find("</rdf:li>")?;
    Some(unescape_xml(&inner[open_end..close]))
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Whitespace runs to one space; `None` when nothing is left.
fn collapse(text: String) -> Option<String> {
    let collapsed = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}
