//! The async runtime checks run on, and the pool that bounds their CPU
//! work. Shared by the daemon and the one-shot commands (`check`,
//! `outbox retry`), so both run with the same limits.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Threads for blocking work (store calls, normalizing, DNS). Store calls
/// run one at a time and normalizing one per core, so more threads only
/// wait, and each thread that allocates keeps allocator caches of its own
/// (with tokio's default of 512 threads and mimalloc, hundreds of megabytes
/// of peak memory in the 10,000-watch cycle benchmark).
pub const BLOCKING_THREADS: usize = 8;

/// The multi-threaded runtime with [`BLOCKING_THREADS`].
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

/// Runs CPU-bound jobs (parsing, normalizing) on the blocking pool, at most
/// one per core: more only adds threads, each with its own allocator heap
/// and a page's DOM in memory. Cheap to clone; clones share the bound.
#[derive(Clone, Debug)]
pub struct CpuPool {
    slots: Arc<Semaphore>,
}

impl Default for CpuPool {
    fn default() -> CpuPool {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        CpuPool {
            slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl CpuPool {
    /// Runs `f` once a slot is free; a panic in `f` resumes here.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.slots.acquire().await.expect("cpu semaphore open");
        match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
