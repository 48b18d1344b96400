//! fetch (in progress)
