//! PDF statements end to end: the real binary fetches `application/pdf`
//! from a loopback server (directly, or as a `.pdf` link a followed listing
//! gives), an edited sentence shows in `chancery diff`, and a PDF without
//! text is a failed check that records no snapshot.

use std::io::Write;

use crate::support::{Env, Route, Server, count};

/// A small, valid PDF: one page per entry, each line a Helvetica text line
/// 14 points below the last, content deflated as real PDFs are.
fn statement_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let contents = pages
        .iter()
        .map(|lines| {
            let mut content = b"BT /F1 11 Tf 72 760 Td 14 TL\n".to_vec();
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
        .collect::<Vec<_>>();
    pdf(&contents, "", &[])
}

/// One page that only paints an image: what a scanner produces.
fn image_only_pdf() -> Vec<u8> {
    // Objects 1-4, then the page (5) and its content (6): the image is 7.
    pdf(
        &[b"q 400 0 0 300 100 400 cm /Im1 Do Q".to_vec()],
        "/XObject << /Im1 7 0 R >>",
        &[b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 \
            /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 1 >>\nstream\n\x80\nendstream"
            .to_vec()],
    )
}

/// Pages with these contents sharing `resources`; `extra` objects come
/// after the pages.
fn pdf(contents: &[Vec<u8>], resources: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    // 1 catalog, 2 page tree, 3 font, 4 info; then page, content per page.
    let kids: Vec<String> = (0..contents.len())
        .map(|i| format!("{} 0 R", 5 + 2 * i))
        .collect();
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            contents.len()
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        b"<< /Title (Statement by the Spokesperson) /Producer (chancery test) >>".to_vec(),
    ];
    for (i, content) in contents.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {} 0 R \
                 /Resources << /Font << /F1 3 0 R >> {resources} >> >>",
                6 + 2 * i
            )
            .into_bytes(),
        );
        let mut deflate =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(content).expect("deflate");
        let deflated = deflate.finish().expect("deflate");
        let mut stream = format!(
            "<< /Length {} /Filter /FlateDecode >>\nstream\n",
            deflated.len()
        )
        .into_bytes();
        stream.extend_from_slice(&deflated);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }
    objects.extend(extra.iter().cloned());
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).expect("write to vec");
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    writeln!(out, "xref\n0 {}\n0000000000 65535 f ", objects.len() + 1).expect("write to vec");
    for offset in offsets {
        writeln!(out, "{offset:010} 00000 n ").expect("write to vec");
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .expect("write to vec");
    out
}

fn pdf_route(body: Vec<u8>, content_type: &str) -> Route {
    Route {
        headers: vec![("Content-Type".into(), content_type.into())],
        ..Route::html(body)
    }
}

fn watch(server: &Server, name: &str, path: &str) -> String {
    format!(
        "[[watch]]\nname = \"{name}\"\nurl = \"{}\"\n",
        server.url(path)
    )
}

const PAGE_1: &[&str] = &[
    "Statement by the Spokesperson on the situation in the region",
    "The Ministry notes with deep concern the latest reports of fighting.",
    "The Government has allocated 1.2 billion euros in humanitarian aid.",
];
const PAGE_2: &[&str] = &["We reaffirm our commitment to a negotiated settlement."];

#[test]
fn an_edited_sentence_in_a_pdf_statement_shows_in_diff() {
    let server = Server::start();
    server.set(
        "/statement.pdf",
        pdf_route(statement_pdf(&[PAGE_1, PAGE_2]), "application/pdf"),
    );
    // Some servers say only octet-stream: the %PDF- magic decides.
    server.set(
        "/download",
        pdf_route(statement_pdf(&[PAGE_1, PAGE_2]), "application/octet-stream"),
    );
    let env = Env::new(
        "",
        &format!(
            "{}{}",
            watch(&server, "mfa", "/statement.pdf"),
            watch(&server, "octet", "/download")
        ),
    );
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa first-seen"), "{run:?}");
    assert!(
        run.line_for("octet").starts_with("octet first-seen"),
        "{run:?}"
    );
    let show = env.run(&["show", "mfa"]).ok();
    assert_eq!(
        show.stdout.trim_end(),
        [PAGE_1, PAGE_2].concat().join("\n"),
        "{show:?}"
    );

    let mut edited = PAGE_1.to_vec();
    edited[2] = "The Government has allocated 1.4 billion euros in humanitarian aid.";
    server.set(
        "/statement.pdf",
        pdf_route(statement_pdf(&[&edited, PAGE_2]), "application/pdf"),
    );
    let run = env.run(&["check", "mfa"]).ok();
    assert!(
        run.line_for("mfa").starts_with("mfa edited +1 -1"),
        "{run:?}"
    );
    let diff = env.run(&["diff", "mfa", "--color", "never"]).ok();
    let changed = |sign: char| -> Vec<&str> {
        diff.stdout
            .lines()
            .filter(|l| l.starts_with(sign) && !l.starts_with(&sign.to_string().repeat(3)))
            .collect()
    };
    assert_eq!(
        changed('-'),
        ["-The Government has allocated 1.2 billion euros in humanitarian aid."],
        "{diff:?}"
    );
    assert_eq!(
        changed('+'),
        ["+The Government has allocated 1.4 billion euros in humanitarian aid."],
        "{diff:?}"
    );

    // The same bytes again: a PDF's text is as stable a signal as HTML's.
    let run = env.run(&["check"]).ok();
    assert!(run.line_for("mfa").starts_with("mfa unchanged"), "{run:?}");
}

#[test]
fn a_pdf_without_text_fails_the_check_and_records_no_snapshot() {
    let server = Server::start();
    server.set("/scan.pdf", pdf_route(image_only_pdf(), "application/pdf"));
    server.set(
        "/later.pdf",
        pdf_route(statement_pdf(&[PAGE_1]), "application/pdf"),
    );
    let env = Env::new(
        "",
        &format!(
            "{}{}",
            watch(&server, "scan", "/scan.pdf"),
            watch(&server, "later", "/later.pdf")
        ),
    );
    let run = env.run(&["check"]);
    assert_eq!(run.code, 1, "a failed check exits 1:\n{run:?}");
    let line = run.line_for("scan");
    assert!(line.starts_with("scan error"), "{run:?}");
    assert!(
        line.contains("no extractable text: the pages hold only images"),
        "{line}"
    );
    assert!(
        run.line_for("later").starts_with("later first-seen"),
        "{run:?}"
    );
    assert_eq!(count(&env.db_path(), "snapshots"), 1);

    // A statement replaced by a scan is an error, never an empty snapshot
    // that would read as the text being deleted; the last text stays.
    server.set("/later.pdf", pdf_route(image_only_pdf(), "application/pdf"));
    let run = env.run(&["check", "later"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.line_for("later").contains("no extractable text"),
        "{run:?}"
    );
    assert_eq!(count(&env.db_path(), "snapshots"), 1);
    assert_eq!(count(&env.db_path(), "changes"), 1);
    let show = env.run(&["show", "later"]).ok();
    assert!(show.stdout.contains("1.2 billion euros"), "{show:?}");
}

#[test]
fn a_pdf_linked_from_a_listing_is_a_child_whose_edits_diff() {
    let server = Server::start();
    server.set(
        "/press/",
        Route::html(
            "<html><body><ul class=\"list\">\
             <li><a href=\"/press/statement-2.pdf\">Statement 2 (PDF)</a></li>\
             <li><a href=\"/press/statement-1.html\">Statement 1</a></li></ul></body></html>",
        ),
    );
    server.set(
        "/press/statement-1.html",
        Route::html("<html><body><p>An HTML statement.</p></body></html>"),
    );
    server.set(
        "/press/statement-2.pdf",
        pdf_route(statement_pdf(&[PAGE_1]), "application/pdf"),
    );
    let env = Env::new(
        "per_host_delay = \"0s\"",
        &format!(
            "[[watch]]\nname = \"press\"\nurl = \"{}\"\nfollow = {{ links = \"ul.list a\" }}\n",
            server.url("/press/")
        ),
    );
    let run = env.run(&["check"]).ok();
    let child = run
        .stdout
        .lines()
        .find(|l| l.starts_with("press/statement-2"))
        .unwrap_or_else(|| panic!("no PDF child:\n{run:?}"));
    assert!(child.contains(" first-seen "), "{run:?}");
    let name = child.split(' ').next().expect("name").to_owned();

    let mut edited = PAGE_1.to_vec();
    edited[1] = "The Ministry notes with grave concern the latest reports of fighting.";
    server.set(
        "/press/statement-2.pdf",
        pdf_route(statement_pdf(&[&edited]), "application/pdf"),
    );
    let run = env.run(&["check"]).ok();
    let line = run.line_for(&name);
    assert!(line.starts_with(&format!("{name} edited +1 -1")), "{run:?}");
    let diff = env.run(&["diff", &name, "--color", "never"]).ok();
    assert!(
        diff.stdout
            .lines()
            .any(|l| l == "-The Ministry notes with deep concern the latest reports of fighting."),
        "{diff:?}"
    );
    assert!(
        diff.stdout
            .lines()
            .any(|l| l == "+The Ministry notes with grave concern the latest reports of fighting."),
        "{diff:?}"
    );
}
