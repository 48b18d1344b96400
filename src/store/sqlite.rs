//! SQLite store (to be written).

/// The embedded SQLite implementation of [`super::Store`].
#[derive(Debug)]
pub struct SqliteStore {}
