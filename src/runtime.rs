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

/// Runs page reading (decoding, parsing, normalizing) on the blocking pool
/// within two bounds: at most one job per core (more only adds threads,
/// each with its own allocator heap), and the memory the jobs in flight
/// are expected to take within a byte budget (`memory_budget`), so that
/// many large pages at once wait their turn instead of pushing the daemon
/// past its memory limit. Cheap to clone; clones share both bounds.
#[derive(Clone, Debug)]
pub struct CpuPool {
    slots: Arc<Semaphore>,
    /// The budget in KiB permits.
    memory: Arc<Semaphore>,
    budget_kib: u32,
}

impl CpuPool {
    /// A pool with one slot per core and `budget` bytes of memory.
    pub fn new(budget: u64) -> CpuPool {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let budget_kib = u32::try_from(budget.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        CpuPool {
            slots: Arc::new(Semaphore::new(cores)),
            memory: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
        }
    }

    /// The memory budget in bytes.
    pub fn budget(&self) -> u64 {
        u64::from(self.budget_kib) * 1024
    }

    /// Runs `f` once `cost` bytes of the budget and a core are free; a
    /// panic in `f` resumes here. A job costing more than the whole budget
    /// is refused: running it alone would still pass the bound.
    ///
    /// The memory stays reserved until `f` returns, even when the caller
    /// stops waiting (a page cut off by `normalize_timeout` still holds
    /// its tree until the thread is done with it); the core is given back
    /// when the caller stops waiting, so a runaway page cannot stall the
    /// other checks. Memory is reserved before the core, by every job in
    /// the same order, so two jobs never wait on each other.
    pub async fn run<R: Send + 'static>(
        &self,
        cost: u64,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, OverBudget> {
        let kib = u32::try_from(cost.div_ceil(1024))
            .ok()
            .filter(|&kib| kib <= self.budget_kib)
            .ok_or(OverBudget {
                cost,
                budget: self.budget(),
            })?
            .max(1);
        // Neither semaphore is ever closed, so acquiring cannot fail.
        let memory = self
            .memory
            .clone()
            .acquire_many_owned(kib)
            .await
            .expect("memory semaphore open");
        let _core = self.slots.acquire().await.expect("cpu semaphore open");
        let job = move || {
            let _memory = memory;
            f()
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(r) => Ok(r),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// A page that would take more memory to read than the whole budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "reading the page would take about {} MiB, more than memory_budget ({} MiB)",
    .cost.div_ceil(1 << 20),
    .budget >> 20
)]
pub struct OverBudget {
    pub cost: u64,
    pub budget: u64,
}

/// This machine's name (the kernel's hostname), for naming the nodes and
/// delivery workers that share a store; `localhost` if it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// This process's name among those sharing a store: its host, its pid and
/// a random part (a restarted daemon is a new node; its old leases expire).
pub fn node_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}-{}", host_name(), std::process::id(), &random[..6])
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// Runs `jobs` jobs of `cost` bytes at once on a pool of `budget`
    /// bytes; each stays 300 ms (ample for the others to start on a loaded
    /// machine). The most that ran together.
    async fn most_at_once(budget: u64, cost: u64, jobs: usize) -> usize {
        let pool = CpuPool::new(budget);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..jobs {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            set.spawn(async move {
                pool.run(cost, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(300));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .expect("within the budget");
            });
        }
        while set.join_next().await.is_some() {}
        most.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_share_the_memory_budget() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Two pages of 60% of the budget never run together.
        assert_eq!(most_at_once(100 * MIB, 60 * MIB, 3).await, 1);
        // Pages of 30% run as many at once as there are cores.
        assert_eq!(most_at_once(100 * MIB, 30 * MIB, 3).await, cores.min(3));
        // A page that fills the budget runs alone.
        assert_eq!(most_at_once(100 * MIB, 100 * MIB, 2).await, 1);
    }

    #[tokio::test]
    async fn a_page_over_the_whole_budget_is_refused_not_run() {
        let pool = CpuPool::new(100 * MIB);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let refused = pool
            .run(150 * MIB, move || flag.store(true, Ordering::SeqCst))
            .await
            .expect_err("over the budget");
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(
            refused.to_string(),
            "reading the page would take about 150 MiB, more than memory_budget (100 MiB)"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_given_up_on_keeps_its_memory_until_it_is_done() {
        let pool = CpuPool::new(100 * MIB);
        let done = Arc::new(AtomicBool::new(false));
        let first = {
            let done = done.clone();
            pool.run(100 * MIB, move || {
                std::thread::sleep(Duration::from_millis(300));
                done.store(true, Ordering::SeqCst);
            })
        };
        // The caller stops waiting (as `normalize_timeout` does)...
        let gave_up = tokio::time::timeout(Duration::from_millis(20), first).await;
        assert!(gave_up.is_err(), "the first page was still being read");
        // ...but its tree is still in memory: the next page waits for it.
        let seen = pool
            .run(1, move || done.load(Ordering::SeqCst))
            .await
            .expect("within the budget");
        assert!(
            seen,
            "the second page started before the first freed its memory"
        );
    }
}
