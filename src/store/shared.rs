//! A store shared by concurrent tasks (checks, the delivery worker): one
//! handle behind a mutex, every call run on tokio's blocking pool so
//! SQLite's fsyncs never stall the network tasks.

use std::sync::{Arc, Mutex};

use super::Store;

/// A store shared by concurrent checks. Cheap to clone.
#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Box<dyn Store + Send>>>);

impl SharedStore {
    /// Wraps a store for shared use.
    pub fn new(store: Box<dyn Store + Send>) -> SharedStore {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// Runs `f` with exclusive access to the store, on the blocking pool.
    pub async fn run<R, F>(&self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn Store) -> R + Send + 'static,
    {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.blocking(f)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs `f` with exclusive access to the store on this thread.
    pub fn blocking<R>(&self, f: impl FnOnce(&mut dyn Store) -> R) -> R {
        // A panic while holding the lock cannot leave a half-written check:
        // the open transaction rolls back when it is dropped.
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(guard.as_mut())
    }
}
