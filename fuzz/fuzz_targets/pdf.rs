//! The PDF path of `normalize` (lopdf + chancery's content-stream
//! interpreter, src/normalize/pdf.rs) on arbitrary bytes served as
//! `application/pdf`. Checks: no panic, a result either way, and the same
//! result twice.
#![no_main]

use chancery::normalize::{self, Filters, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = Input {
        body: data,
        content_type: Some("application/pdf"),
        url: None,
    };
    let filters = Filters::default();
    let first = normalize::normalize(&input, &filters);
    let second = normalize::normalize(&input, &filters);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "PDF normalization is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("PDF normalization is not deterministic: {first:?} vs {second:?}"),
    }
});
