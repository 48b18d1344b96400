//! A WARC 1.1 writer (ISO 28500:2017), one gzip member per record so that
//! any record can be read on its own from its offset, as `warcio` and
//! wayback indexes expect.
//!
//! Digests are `sha256:` with lowercase hex, the form `chancery history`
//! prints, so a reader can compare them by eye; `warcio check` accepts hex
//! (it converts any RFC 4648 form before comparing).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::model::Timestamp;

/// `<urn:uuid:…>`, a record's globally unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordId(String);

impl RecordId {
    /// A random (version 4) UUID: unique across exports and installations.
    pub fn random() -> RecordId {
        RecordId(format!("<urn:uuid:{}>", uuid::Uuid::new_v4()))
    }

    /// The id as it appears in `WARC-Record-ID` and the fields that refer
    /// to a record, angle brackets included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One record to write. The writer adds `WARC-Record-ID`, `WARC-Date`,
/// `Content-Length` and `WARC-Block-Digest`.
#[derive(Debug)]
pub struct Record<'a> {
    /// `warcinfo`, `request`, `response`, `resource`, `conversion`, ...
    pub warc_type: &'static str,
    pub id: &'a RecordId,
    pub date: Timestamp,
    /// Further named fields, in order (`WARC-Target-URI`, `Content-Type`, ...).
    pub fields: Vec<(&'static str, String)>,
    /// The block, in pieces so a large body is not copied to be prefixed
    /// with its HTTP head.
    pub block: &'a [&'a [u8]],
}

/// Writes records to `out`, counting what it wrote.
#[derive(Debug)]
pub struct WarcWriter<W: Write> {
    out: W,
    records: u64,
    bytes: u64,
}

impl<W: Write> WarcWriter<W> {
    /// A writer at the start of a file: the caller writes `warcinfo` first.
    pub fn new(out: W) -> WarcWriter<W> {
        WarcWriter {
            out,
            records: 0,
            bytes: 0,
        }
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Compressed bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The underlying writer, for the caller to flush and sync.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one record as its own gzip member.
    ///
    /// A field value with CR or LF would end the header early and let the
    /// value forge fields, so it is refused as `InvalidInput`.
    pub fn write(&mut self, record: &Record<'_>) -> std::io::Result<()> {
        let length: usize = record.block.iter().map(|piece| piece.len()).sum();
        let mut block_digest = Sha256::new();
        for piece in record.block {
            block_digest.update(piece);
        }
        let mut head = String::with_capacity(512);
        let mut field = |name: &str, value: &str| -> std::io::Result<()> {
            if value.contains(['\r', '\n']) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("WARC field {name} contains a line break"),
                ));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
            Ok(())
        };
        field("WARC-Type", record.warc_type)?;
        field("WARC-Record-ID", record.id.as_str())?;
        field("WARC-Date", &warc_date(record.date))?;
        for (name, value) in &record.fields {
            field(name, value)?;
        }
        field(
            "WARC-Block-Digest",
            &sha256_label(&hex::encode(block_digest.finalize())),
        )?;
        field("Content-Length", &length.to_string())?;

        let mut gz = GzEncoder::new(Vec::with_capacity(length / 3 + 512), Compression::default());
        gz.write_all(b"WARC/1.1\r\n")?;
        gz.write_all(head.as_bytes())?;
        gz.write_all(b"\r\n")?;
        for piece in record.block {
            gz.write_all(piece)?;
        }
        gz.write_all(b"\r\n\r\n")?;
        let member = gz.finish()?;
        self.out.write_all(&member)?;
        self.records += 1;
        self.bytes += member.len() as u64;
        Ok(())
    }
}

/// `sha256:<hex>` for a hex digest.
pub fn sha256_label(hex: &str) -> String {
    format!("sha256:{hex}")
}

/// WARC 1.1 dates: UTC, with the fraction WARC 1.1 allows (milliseconds,
/// the precision chancery records).
pub fn warc_date(t: Timestamp) -> String {
    let at = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// The response head to archive with a *decoded* body.
///
/// chancery stores the body after undoing `Content-Encoding` and chunked
/// framing, so the head as received would describe bytes that are not in
/// the record. `Content-Encoding` and `Transfer-Encoding` are renamed to
/// `X-Chancery-Original-…` (values kept), `Content-Length` too when it does
/// not match the stored body, and a `Content-Length` of the stored body is
/// added. Every other byte of the head is kept.
pub fn decoded_response_head(head: &[u8], body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len() + 64);
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    if let Some(status_line) = lines.next() {
        out.extend_from_slice(status_line);
        out.extend_from_slice(b"\r\n");
    }
    let mut has_length = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let colon = line.iter().position(|b| *b == b':').unwrap_or(line.len());
        let name = &line[..colon];
        let value = line.get(colon + 1..).unwrap_or_default().trim_ascii();
        let rename = if name.eq_ignore_ascii_case(b"content-encoding") {
            Some("X-Chancery-Original-Content-Encoding")
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            Some("X-Chancery-Original-Transfer-Encoding")
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value == body_len.to_string().as_bytes() && !has_length {
                has_length = true;
                None
            } else {
                Some("X-Chancery-Original-Content-Length")
            }
        } else {
            None
        };
        match rename {
            Some(new_name) => {
                out.extend_from_slice(new_name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
            }
            None => out.extend_from_slice(line),
        }
        out.extend_from_slice(b"\r\n");
    }
    if !has_length {
        out.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn members(file: &[u8]) -> Vec<String> {
        // MultiGzDecoder would join members; read them one at a time to
        // prove each record is its own member.
        let mut rest = file;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let mut decoder = flate2::bufread::GzDecoder::new(rest);
            let mut text = String::new();
            decoder.read_to_string(&mut text).expect("one gzip member");
            rest = decoder.into_inner();
            out.push(text);
        }
        out
    }

    #[test]
    fn each_record_is_one_gzip_member_with_length_and_digest() {
        let mut writer = WarcWriter::new(Vec::new());
        let id = RecordId::random();
        let block: &[&[u8]] = &[b"abc"];
        writer
            .write(&Record {
                warc_type: "resource",
                id: &id,
                date: Timestamp(1_764_374_400_123),
                fields: vec![("Content-Type", "text/plain".to_owned())],
                block,
            })
            .expect("write");
        let id2 = RecordId::random();
        writer
            .write(&Record {
                warc_type: "metadata",
                id: &id2,
                date: Timestamp(0),
                fields: Vec::new(),
                block: &[b"x: ", b"y\r\n"],
            })
            .expect("write");
        assert_eq!(writer.records(), 2);
        let bytes = writer.bytes();
        let file = writer.into_inner();
        assert_eq!(bytes, file.len() as u64);
        let records = members(&file);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0],
            format!(
                "WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: {}\r\n\
                 WARC-Date: 2025-11-29T00:00:00.123Z\r\nContent-Type: text/plain\r\n\
                 WARC-Block-Digest: sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n\
                 Content-Length: 3\r\n\r\nabc\r\n\r\n",
                id.as_str()
            )
        );
        assert!(records[1].contains("Content-Length: 6\r\n\r\nx: y\r\n\r\n\r\n"));
        assert_ne!(id, id2);
        assert!(id.as_str().starts_with("<urn:uuid:") && id.as_str().ends_with('>'));
    }

    #[test]
    fn a_field_with_a_line_break_is_refused() {
        let mut writer = WarcWriter::new(Vec::new());
        let err = writer
            .write(&Record {
                warc_type: "resource",
                id: &RecordId::random(),
                date: Timestamp(0),
                fields: vec![(
                    "WARC-Target-URI",
                    "http://a/\r\nWARC-Type: forged".to_owned(),
                )],
                block: &[],
            })
            .expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(writer.records(), 0);
    }

    #[test]
    fn decoded_head_renames_codings_and_sets_the_stored_length() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-encoding: gzip\r\n\
                     content-length: 1234\r\nvary: Accept-Encoding\r\n\r\n";
        assert_eq!(
            String::from_utf8(decoded_response_head(head, 5000)).expect("utf-8"),
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\
             X-Chancery-Original-Content-Encoding: gzip\r\n\
             X-Chancery-Original-Content-Length: 1234\r\nvary: Accept-Encoding\r\n\
             Content-Length: 5000\r\n\r\n"
        );
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert_eq!(
            decoded_response_head(chunked, 7),
            b"HTTP/1.1 200 OK\r\nX-Chancery-Original-Transfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n"
        );
        // A plain response whose length matches is kept byte for byte.
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\netag: \"x\"\r\n\r\n";
        assert_eq!(decoded_response_head(plain, 7), plain);
    }
}
