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
/// The stack the parser runs on: 16 times what its deepest nesting needs.
const PARSER_STACK_BYTES: usize = 16 << 20;
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
    /// More than any statement needs, and each reached within about two
    /// seconds of a release build's time (figures in `docs/pdf.md`): a
    /// 100,000-page PDF or a 1 GiB content stream would otherwise cost
    /// minutes and gigabytes.
    pub(crate) const DEFAULT: Limits = Limits {
        pages: 2_000,
        content_bytes: 64 << 20,
        operations: 2_000_000,
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
    let guarded = || {
        catch_unwind(AssertUnwindSafe(|| extract_unguarded(body, limits)))
            .unwrap_or_else(|_| Err("the PDF parser failed on this file".to_owned()))
    };
    // lopdf's parser recurses into nested arrays and dictionaries, up to
    // 100 levels: about 1 MiB of stack in a debug build. A stack overflow
    // aborts the process (no unwinding), so the parse gets a stack of known
    // size instead of whatever the caller's thread has.
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("pdf".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, guarded)
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err("the PDF parser failed on this file".to_owned())),
            Err(_) => Err("no thread to parse the PDF on".to_owned()),
        }
    })
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

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;
    use crate::normalize::{Filters, Input, NormalizeError, normalize};

    /// Writes a small, valid PDF: a catalog, a page tree, one page per
    /// content stream (all sharing Helvetica as `/F1` and whatever `extra`
    /// resources say), a correct xref table. `objects` are appended as
    /// objects 4, 5, … for tests that need more (images, forms, fonts).
    pub(crate) fn pdf_with(contents: &[&[u8]], resources: &str, objects: &[&[u8]]) -> Vec<u8> {
        let streams: Vec<Vec<u8>> = contents.iter().map(|c| stream(c, "")).collect();
        pdf_with_streams(&streams, resources, objects)
    }

    /// [`pdf_with`] with each page's content stream object given whole
    /// (to set its filters).
    pub(crate) fn pdf_with_streams(
        contents: &[Vec<u8>],
        resources: &str,
        objects: &[&[u8]],
    ) -> Vec<u8> {
        // 1 catalog, 2 pages, 3 font, then `objects`, then per page: page, content.
        let first_page = 4 + objects.len();
        let kids: Vec<String> = (0..contents.len())
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        let mut bodies: Vec<Vec<u8>> = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {} >>",
                kids.join(" "),
                contents.len()
            )
            .into_bytes(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        ];
        bodies.extend(objects.iter().map(|o| o.to_vec()));
        for (i, content) in contents.iter().enumerate() {
            bodies.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
                     /Resources << /Font << /F1 3 0 R >> {resources} >> >>",
                    first_page + 2 * i + 1
                )
                .into_bytes(),
            );
            bodies.push(content.clone());
        }
        let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            offsets.push(out.len());
            writeln!(out, "{} 0 obj", i + 1).expect("write to vec");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        write!(out, "xref\n0 {}\n0000000000 65535 f \n", bodies.len() + 1).expect("write to vec");
        for offset in offsets {
            writeln!(out, "{offset:010} 00000 n ").expect("write to vec");
        }
        write!(
            out,
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            bodies.len() + 1
        )
        .expect("write to vec");
        out
    }

    /// A stream object with `extra` dictionary entries.
    pub(crate) fn stream(data: &[u8], extra: &str) -> Vec<u8> {
        let mut out = format!("<< /Length {} {extra} >>\nstream\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\nendstream");
        out
    }

    /// A PDF whose pages each hold these lines, 14 points apart.
    pub(crate) fn text_pdf(pages: &[&[&str]]) -> Vec<u8> {
        let contents: Vec<Vec<u8>> = pages
            .iter()
            .map(|lines| {
                let mut content = b"BT /F1 12 Tf 72 720 Td 14 TL\n".to_vec();
                for line in *lines {
                    let escaped = line
                        .replace('\\', "\\\\")
                        .replace('(', "\\(")
                        .replace(')', "\\)");
                    writeln!(content, "({escaped}) Tj T*").expect("write to vec");
                }
                content.extend_from_slice(b"ET");
                content
            })
            .collect();
        let refs: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
        pdf_with(&refs, "", &[])
    }

    fn text(body: &[u8]) -> String {
        let extracted = extract(body).expect("the PDF has text");
        text::clean(&extracted.text, text::Indent::Collapse)
    }

    fn reason(body: &[u8]) -> String {
        extract(body).expect_err("the PDF has no text")
    }

    use crate::normalize::text;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/pdf/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }

    #[test]
    fn one_line_per_printed_line_across_pages() {
        let body = text_pdf(&[
            &[
                "Statement by the Spokesperson",
                "on the (situation) in the region.",
            ],
            &["Second page."],
        ]);
        assert_eq!(
            text(&body),
            "Statement by the Spokesperson\non the (situation) in the region.\nSecond page."
        );
    }

    #[test]
    fn gaps_become_spaces_and_kerning_does_not() {
        // TJ: -40 is kerning inside a word, -300 is a word gap; a new BT on
        // the same baseline further right continues the line; a move down
        // starts a new one.
        let content = b"BT /F1 10 Tf 72 700 Td [(Minis) -40 (try) -300 (of)] TJ ET\n\
            BT /F1 10 Tf 150 700 Td (Affairs) Tj 0 -20 Td (next line) Tj ET";
        assert_eq!(
            text(&pdf_with(&[content], "", &[])),
            "Ministry of Affairs\nnext line"
        );
    }

    #[test]
    fn words_spaced_with_char_spacing_keep_their_space() {
        // Ghostscript justifies by spacing glyphs with Tc instead of drawing
        // a space: "A" and "s" are 2.5 points apart, "s" and "econd" touch.
        let body = fixture("groff-ligatures.pdf");
        let text = text(&body);
        assert!(text.contains("\nA second paragraph follows"), "{text}");
    }

    #[test]
    fn ligatures_become_letters() {
        let text = text(&fixture("groff-ligatures.pdf"));
        assert!(
            text.starts_with("Official Statement on Financial Affairs\n"),
            "{text}"
        );
        assert!(text.contains("the first fifty fiscal files were flagged for efficient review"));
        assert!(!text.contains('\u{FB01}'));
    }

    #[test]
    fn fake_bold_is_read_once() {
        let content = b"BT /F1 12 Tf 72 700 Td (Bold) Tj ET BT /F1 12 Tf 72.4 700 Td (Bold) Tj ET";
        assert_eq!(text(&pdf_with(&[content], "", &[])), "Bold");
    }

    #[test]
    fn chinese_with_a_predefined_cmap_and_with_an_embedded_font() {
        let unembedded = text(&fixture("zh-cid-unembedded.pdf"));
        assert!(
            unembedded.starts_with(
                "外交部发言人就当前地区局势答记者问\n中方对近期边境附近发生的冲突深表关切"
            ),
            "{unembedded}"
        );
        let embedded = extract(&fixture("zh-embedded-ttf.pdf")).expect("text");
        assert_eq!(
            embedded.title.as_deref(),
            Some("外交部发言人就当前地区局势答记者问")
        );
        assert!(
            embedded
                .text
                .contains("我们坚持通过对话协商和平解决争端，愿同国际社会一道"),
            "{}",
            embedded.text
        );
        assert!(
            embedded
                .text
                .contains("日本語：外務省報道官談話（令和６年）")
        );
    }

    #[test]
    fn table_rows_and_two_columns() {
        let table = text(&fixture("table.pdf"));
        assert!(
            table.contains("Programme 2023 2024 Change\nHumanitarian aid 1,200.0 1,400.0 +16.7%\n"),
            "{table}"
        );
        let columns = text(&fixture("two-columns.pdf"));
        let lines: Vec<&str> = columns.lines().collect();
        // The left column is read to its end before the right one starts.
        assert_eq!(
            lines[0],
            "Paragraph 1. The Ministry of Foreign Affairs notes"
        );
        let p1 = lines.iter().position(|l| l.starts_with("Paragraph 1."));
        let p2 = lines.iter().position(|l| l.starts_with("Paragraph 2."));
        let p12 = lines.iter().position(|l| l.starts_with("Paragraph 12."));
        assert!(p1 < p2 && p2 < p12, "{columns}");
    }

    #[test]
    fn census_table_keeps_its_rows() {
        // US Census Bureau, Statistical Abstract 2012, table 324.
        let extracted = extract(&fixture("census-12s0324-arrests.pdf")).expect("text");
        assert_eq!(extracted.title.as_deref(), Some("Arrests by Sex and Age"));
        let text = text::clean(&extracted.text, text::Indent::Collapse);
        for row in [
            "Table 324. Arrests by Sex and Age: 2009",
            "Robbery . . . . . . . . . . . . . . . . . . . . . . 102.1 25.5 76.6 90.0 22.9 67.1 12.1 2.5 9.5",
        ] {
            assert!(text.lines().any(|l| l == row), "missing {row:?} in\n{text}");
        }
    }

    #[test]
    fn title_from_info_utf16_else_xmp() {
        let info = b"<< /Title <FEFF00C9007400610074> >>";
        let mut body = text_pdf(&[&["x"]]);
        // Point the trailer at an info dictionary appended as object 6
        // (the xref is not updated: lopdf repairs it, as real files need).
        let with_info =
            String::from_utf8_lossy(&body).replace("/Root 1 0 R", "/Root 1 0 R /Info 6 0 R");
        body = pdf_with_info(with_info.as_bytes(), info);
        assert_eq!(extract(&body).expect("text").title.as_deref(), Some("État"));

        let xmp = b"<x:xmpmeta><rdf:RDF><rdf:Description><dc:title><rdf:Alt>\
            <rdf:li xml:lang=\"x-default\">Press  release &amp; notes</rdf:li></rdf:Alt></dc:title>\
            </rdf:Description></rdf:RDF></x:xmpmeta>";
        let content: &[u8] = b"BT /F1 12 Tf 72 700 Td (x) Tj ET";
        let body = pdf_with(
            &[content],
            "",
            &[&stream(xmp, "/Type /Metadata /Subtype /XML")],
        );
        let body = String::from_utf8_lossy(&body).replace(
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Catalog /Pages 2 0 R /Metadata 4 0 R >>",
        );
        assert_eq!(
            extract(body.as_bytes()).expect("text").title.as_deref(),
            Some("Press release & notes")
        );
        assert_eq!(extract(&text_pdf(&[&["x"]])).expect("text").title, None);
    }

    /// Appends `info` as a new object after the file's last one.
    fn pdf_with_info(body: &[u8], info: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(b"6 0 obj\n");
        out.extend_from_slice(info);
        out.extend_from_slice(b"\nendobj\n");
        out
    }

    #[test]
    fn encrypted_needs_a_password_but_the_empty_one_is_tried() {
        assert_eq!(
            reason(&fixture("encrypted-userpw.pdf")),
            "the PDF is encrypted and needs a password"
        );
        let text = text(&fixture("encrypted-rc4-empty-userpw.pdf"));
        assert!(
            text.starts_with(
                "Statement by the Spokesperson on the situation in\nthe region\n1.1 The Ministry"
            ),
            "{text}"
        );
    }

    #[test]
    fn image_only_and_empty_pages_say_why() {
        let image = stream(
            b"\xFF\xFF\xFF",
            "/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceRGB /BitsPerComponent 8",
        );
        let content: &[u8] = b"q 200 0 0 100 50 500 cm /Im1 Do Q";
        let body = pdf_with(&[content], "/XObject << /Im1 4 0 R >>", &[&image]);
        assert_eq!(
            reason(&body),
            "the pages hold only images (a scan without a text layer?)"
        );
        let inline: &[u8] = b"q 10 0 0 10 0 0 cm BI /W 1 /H 1 /CS /G /BPC 8 ID \x80 EI Q";
        assert_eq!(
            reason(&pdf_with(&[inline], "", &[])),
            "the pages hold only images (a scan without a text layer?)"
        );
        let blank: &[u8] = b"0 0 m 100 100 l S BT /F1 12 Tf 72 700 Td (   ) Tj ET";
        assert_eq!(
            reason(&pdf_with(&[blank], "", &[])),
            "the pages hold no text"
        );
        let unknown_font: &[u8] = b"BT /F9 12 Tf 72 700 Td (hidden) Tj ET";
        assert_eq!(
            reason(&pdf_with(&[unknown_font], "", &[])),
            "the text uses fonts without a Unicode mapping"
        );
    }

    #[test]
    fn text_inside_a_form_xobject_is_read() {
        let form = stream(
            b"BT /F1 12 Tf 0 0 Td (from the form) Tj ET",
            "/Type /XObject /Subtype /Form /BBox [0 0 500 100] /Resources << /Font << /F1 3 0 R >> >>",
        );
        let content: &[u8] = b"BT /F1 12 Tf 72 720 Td (page) Tj ET q 1 0 0 1 72 600 cm /Fm1 Do Q";
        let body = pdf_with(&[content], "/XObject << /Fm1 4 0 R >>", &[&form]);
        assert_eq!(text(&body), "page\nfrom the form");
        // A form that draws itself is cut off by the depth bound.
        let recursive = stream(
            b"BT /F1 12 Tf 0 0 Td (again) Tj ET /Fm1 Do",
            "/Type /XObject /Subtype /Form /BBox [0 0 500 100] /Resources << /Font << /F1 3 0 R >> /XObject << /Fm1 4 0 R >> >>",
        );
        let content: &[u8] = b"/Fm1 Do";
        let body = pdf_with(&[content], "/XObject << /Fm1 4 0 R >>", &[&recursive]);
        assert_eq!(text(&body), "again");
    }

    #[test]
    fn not_a_pdf_or_truncated() {
        assert!(
            reason(b"%PDF-1.7\nthis is not a PDF at all").starts_with("the PDF cannot be parsed ("),
            "{}",
            reason(b"%PDF-1.7\nthis is not a PDF at all")
        );
        let body = text_pdf(&[&["Statement text"]]);
        let truncated = &body[..body.len() / 2];
        let why = reason(truncated);
        assert!(
            why == "the PDF has no pages (damaged or truncated?)"
                || why == "the pages hold no text"
                || why.starts_with("the PDF cannot be parsed"),
            "{why}"
        );
    }

    #[test]
    fn limits_cut_off_with_a_reason() {
        let small = Limits {
            pages: 3,
            content_bytes: 1 << 20,
            operations: 1_000,
        };
        let four_pages = text_pdf(&[&["1"], &["2"], &["3"], &["4"]]);
        assert_eq!(
            extract_within(&four_pages, &small).expect_err("too many pages"),
            "the PDF has more than 3 pages"
        );
        let three_pages = text_pdf(&[&["1"], &["2"], &["3"]]);
        assert!(extract_within(&three_pages, &small).is_ok());

        let many_ops = b"q Q ".repeat(600);
        assert_eq!(
            extract_within(&pdf_with(&[&many_ops], "", &[]), &small)
                .expect_err("too many operators"),
            "the PDF has more than 1000 content operators"
        );

        // A 2 MiB content stream deflated to a few KiB.
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![b' '; 2 << 20]).expect("deflate");
        let bomb = encoder.finish().expect("deflate");
        let body = pdf_with_streams(&[stream(&bomb, "/Filter /FlateDecode")], "", &[]);
        assert_eq!(
            extract_within(&body, &small).expect_err("content bomb"),
            "the page content inflates past 1 MiB"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow_a_small_stack() {
        let depth = 200_000;
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let content = format!("BT /F1 12 Tf 72 700 Td (deep) Tj ET {nested} Tj");
        let body = pdf_with(&[content.as_bytes()], &format!("/X {nested}"), &[]);
        // Far less than lopdf needs at its nesting limit in a debug build:
        // the extraction must bring its own stack.
        let result = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || extract(&body).map(|e| e.text))
            .expect("spawn test thread")
            .join()
            .expect("no stack overflow");
        // Whether lopdf gives up on the page or reads it, it must answer.
        if let Ok(text) = result {
            assert!(text.contains("deep"), "{text}");
        }
    }

    #[test]
    fn normalize_reports_no_text_and_applies_ignore() {
        let input = |body: &[u8]| -> Result<String, NormalizeError> {
            let filters =
                Filters::new(&[], &[], &[r"Page \d+ of \d+".to_owned()]).expect("regex compiles");
            normalize(
                &Input {
                    body,
                    content_type: Some("application/pdf"),
                    url: None,
                },
                &filters,
            )
            .map(|n| n.text)
        };
        let body = text_pdf(&[
            &["Statement  text", "Page 1 of 2"],
            &["More", "Page 2 of 2"],
        ]);
        assert_eq!(input(&body).expect("text"), "Statement text\nMore");
        let err = input(&fixture("encrypted-userpw.pdf")).expect_err("encrypted");
        assert_eq!(
            err.to_string(),
            "no extractable text: the PDF is encrypted and needs a password"
        );
        // Sniffed by magic when the server says only octet-stream.
        let sniffed = normalize(
            &Input {
                body: &text_pdf(&[&["by magic"]]),
                content_type: Some("application/octet-stream"),
                url: None,
            },
            &Filters::default(),
        )
        .expect("pdf");
        assert_eq!(
            (sniffed.text.as_str(), sniffed.encoding),
            ("by magic", "UTF-8")
        );
    }
}
