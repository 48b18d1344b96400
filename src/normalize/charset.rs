//! Decodes a body to Unicode: BOM, then the HTTP `charset`, then an HTML
//! `<meta charset>`/`http-equiv` prescan, then detection (chardetng, with
//! the URL's top-level domain as a hint), then windows-1252.
