//! `chancery export --warc` writes evidence that an independent
//! reader (warcio, pinned in `.ci/run`) accepts, and whose digests are the
//! hashes `chancery history` shows.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::support::{Env, Route, Server, ci_python};

const V1: &str = "<html><head><title>Statement</title></head><body><main>\
                  <h1>Statement on the flood relief</h1>\
                  <p>The ministry will release 200 million for flood relief.</p>\
                  </main></body></html>";

/// The interpreter that has warcio (see [`ci_python`]).
fn warcio_python() -> Option<String> {
    ci_python(
        "CHANCERY_WARCIO",
        "warcio==1.8.1",
        "the warcio check of the WARC export",
    )
}

/// Reads the WARC with warcio and prints one JSON object per record.
const READER: &str = r#"
import hashlib, json, sys
from warcio.archiveiterator import ArchiveIterator
with open(sys.argv[1], 'rb') as f:
    for r in ArchiveIterator(f):
        h = r.rec_headers
        payload = r.content_stream().read()
        http = r.http_headers
        print(json.dumps({
            'type': r.rec_type,
            'id': h.get_header('WARC-Record-ID'),
            'uri': h.get_header('WARC-Target-URI'),
            'date': h.get_header('WARC-Date'),
            'ip': h.get_header('WARC-IP-Address'),
            'concurrent': h.get_header('WARC-Concurrent-To'),
            'refers': h.get_header('WARC-Refers-To'),
            'payload_digest': h.get_header('WARC-Payload-Digest'),
            'check': h.get_header('Chancery-Check-Id'),
            'status_line': http.protocol + ' ' + http.statusline if http else None,
            'headers': dict((k.lower(), v) for k, v in http.headers) if http else None,
            'sha256': hashlib.sha256(payload).hexdigest(),
            'text': payload.decode('utf-8', 'replace'),
        }))
"#;

fn python(python: &str, args: &[&str]) -> std::process::Output {
    Command::new(python)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn warc_export_is_accepted_by_warcio_and_matches_the_history() {
    let server = Server::start();
    server.set("/statement", Route::html(V1));
    let url = server.url("/statement");
    let env = Env::new(
        "",
        &format!("[[watch]]\nname = \"mfa\"\nurl = \"{url}\"\nselect = [\"main\"]\n"),
    );
    // first-seen, unchanged (same bytes: the body is stored), then an edit
    // served gzip-encoded with an ETag, then a 304 (no body to export).
    env.run(&["check"]).ok();
    env.run(&["check"]).ok();
    let v2 = V1.replace("200 million", "350 million");
    server.set(
        "/statement",
        Route::html(gzip(v2.as_bytes()))
            .with_header("Content-Encoding", "gzip")
            .with_etag("\"v2\""),
    );
    let edited = env.run(&["check"]).ok();
    assert!(edited.stdout.contains("edited"), "{edited:?}");
    let not_modified = env.run(&["check"]).ok();
    assert!(
        not_modified.stdout.contains("unchanged"),
        "{not_modified:?}"
    );

    let warc = env.dir.path().join("mfa.warc.gz");
    let warc_arg = warc.display().to_string();
    let export = env.run(&["export", "mfa", "--warc", &warc_arg]).ok();
    assert_eq!(
        export.stdout,
        format!(
            "exported 3 responses of mfa to {warc_arg}: 10 records, {} bytes; \
             1 check without a stored body left out\n",
            std::fs::metadata(&warc).expect("warc written").len()
        ),
        "{export:?}"
    );

    let Some(py) = warcio_python() else { return };
    let check = python(&py, &["-m", "warcio.cli", "check", "-v", &warc_arg]);
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "warcio check failed:\n{check_out}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Every record carries a digest and every digest verifies.
    assert_eq!(check_out.matches("digest pass").count(), 10, "{check_out}");

    let read = python(&py, &["-c", READER, &warc_arg]);
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&read.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("reader prints JSON"))
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "warcinfo",
            "request",
            "response",
            "conversion",
            "request",
            "response",
            "conversion",
            "request",
            "response",
            "conversion"
        ]
    );

    // The history's hashes, by check id.
    let history = env
        .run(&["history", "mfa", "--checks", "10", "--json"])
        .ok()
        .json();
    let checks: HashMap<String, &serde_json::Value> = history["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["id"].to_string(), c))
        .collect();
    let snapshots: Vec<&str> = history["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| s["sha256"].as_str().expect("sha256"))
        .collect();

    for triple in records[1..].chunks(3) {
        let (request, response, conversion) = (&triple[0], &triple[1], &triple[2]);
        let check = checks[response["check"].as_str().expect("check id")];
        // The payload is the body the history hashed, and says so.
        assert_eq!(response["sha256"], check["raw_sha256"], "{response:#}");
        assert_eq!(
            response["payload_digest"],
            format!("sha256:{}", check["raw_sha256"].as_str().expect("raw"))
        );
        // The normalized text is the snapshot's, by the history's hash.
        assert_eq!(conversion["sha256"], check["text_sha256"], "{conversion:#}");
        assert!(snapshots.contains(&conversion["sha256"].as_str().expect("sha")));
        assert_eq!(conversion["refers"], response["id"]);
        assert_eq!(request["concurrent"], response["id"]);
        assert_eq!(response["concurrent"], request["id"]);
        for record in triple {
            assert_eq!(record["uri"], url.as_str());
        }
        assert_eq!(response["ip"], "127.0.0.1");
        assert_eq!(response["status_line"], "HTTP/1.1 200 OK");
        assert!(
            request["status_line"]
                .as_str()
                .is_some_and(|l| l.starts_with("GET /statement HTTP/1.1")),
            "{request:#}"
        );
        assert_eq!(request["headers"]["user-agent"], "chancery-test");
    }

    // The gzip response: the decoded page, with the original coding kept.
    let gz = &records[8];
    assert!(gz["text"].as_str().expect("text").contains("350 million"));
    let headers = &gz["headers"];
    assert_eq!(headers["x-chancery-original-content-encoding"], "gzip");
    assert_eq!(
        headers["x-chancery-original-content-length"],
        gzip(v2.as_bytes()).len().to_string()
    );
    assert_eq!(headers["content-length"], v2.len().to_string());
    assert!(headers.get("content-encoding").is_none(), "{gz:#}");
    assert_eq!(headers["etag"], "\"v2\"");
    // The latest conversion is what `show` prints.
    let show = env.run(&["show", "mfa"]).ok();
    assert_eq!(
        format!("{}\n", records[9]["text"].as_str().expect("text")),
        show.stdout
    );
    // Capture times are in order.
    let dates: Vec<&str> = records[1..]
        .iter()
        .map(|r| r["date"].as_str().expect("date"))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
}

#[test]
fn export_fails_cleanly_and_leaves_no_file() {
    let server = Server::start();
    server.set(
        "/down",
        Route::status(500, "<html><body>oops</body></html>"),
    );
    server.set("/ok", Route::html(V1));
    let env = Env::new(
        "",
        &format!(
            "[[watch]]\nname = \"down\"\nurl = \"{}\"\n\n[[watch]]\nname = \"ok\"\nurl = \"{}\"\n",
            server.url("/down"),
            server.url("/ok")
        ),
    );
    env.run(&["check"]);
    let out_dir = env.dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let warc = out_dir.join("x.warc.gz").display().to_string();

    let unknown = env.run(&["export", "nope", "--warc", &warc]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no watch named \"nope\""),
        "{unknown:?}"
    );

    let nothing = env.run(&["export", "down", "--warc", &warc]);
    assert_eq!(nothing.code, 1, "{nothing:?}");
    assert!(
        nothing
            .stderr
            .contains("watch \"down\" has no stored response"),
        "{nothing:?}"
    );

    // In the config but never checked: nothing stored, not an unknown name.
    env.write_config(
        "",
        &format!(
            "[[watch]]\nname = \"down\"\nurl = \"{}\"\n\n[[watch]]\nname = \"ok\"\nurl = \"{}\"\n\n[[watch]]\nname = \"later\"\nurl = \"{}\"\n",
            server.url("/down"),
            server.url("/ok"),
            server.url("/later")
        ),
    );
    let never = env.run(&["export", "later", "--warc", &warc]);
    assert_eq!(never.code, 1, "{never:?}");
    assert!(
        never
            .stderr
            .contains("watch \"later\" has no stored response"),
        "{never:?}"
    );

    let future = env.run(&["export", "ok", "--since", "2999-01-01", "--warc", &warc]);
    assert_eq!(future.code, 1, "{future:?}");
    assert!(
        future
            .stderr
            .contains("no stored response since 2999-01-01T00:00:00Z"),
        "{future:?}"
    );

    let bad_date = env.run(&["export", "ok", "--since", "last week", "--warc", &warc]);
    assert_eq!(bad_date.code, 2, "{bad_date:?}");
    assert!(
        bad_date.stderr.contains("\"last week\" is not a date"),
        "{bad_date:?}"
    );
    assert!(files_in(&out_dir).is_empty(), "{:?}", files_in(&out_dir));

    let past = env
        .run(&["export", "ok", "--since", "2020-01-01", "--warc", &warc])
        .ok();
    assert!(
        past.stdout.starts_with("exported 1 response of ok"),
        "{past:?}"
    );
    let json = env
        .run(&[
            "export",
            "ok",
            "--since",
            "2020-01-01",
            "--warc",
            &warc,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(json["responses"], 1, "{json:#}");
    assert_eq!(json["watch"], "ok", "{json:#}");
    assert!(json["bytes"].as_u64().is_some_and(|b| b > 0), "{json:#}");
    assert_eq!(files_in(&out_dir), ["x.warc.gz"]);
}

#[test]
fn a_non_standard_reason_phrase_is_archived_as_received() {
    let server = Server::start();
    // The test server says "203 Whatever"; the standard phrase is
    // "Non-Authoritative Information".
    server.set("/odd", Route::status(203, V1));
    let env = Env::new(
        "",
        &format!(
            "[[watch]]\nname = \"odd\"\nurl = \"{}\"\n",
            server.url("/odd")
        ),
    );
    env.run(&["check"]).ok();
    let warc = env.dir.path().join("odd.warc.gz").display().to_string();
    env.run(&["export", "odd", "--warc", &warc]).ok();
    let Some(py) = warcio_python() else { return };
    let read = python(&py, &["-c", READER, &warc]);
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let response: serde_json::Value = String::from_utf8_lossy(&read.stdout)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .find(|r| r["type"] == "response")
        .expect("a response record");
    assert_eq!(response["status_line"], "HTTP/1.1 203 Whatever");
}
