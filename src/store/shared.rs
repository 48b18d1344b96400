//! A store shared by concurrent tasks (checks, the delivery worker): one
//! handle behind a mutex, every call run on tokio's blocking pool so
//! SQLite's fsyncs never stall the network tasks.
//!
//! Writes that come in while another is being committed are committed
//! together ([`SharedStore::write`]): one transaction for many checks, each
//! in a savepoint of its own, and no caller told before its write is
//! committed.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::{Store, StoreError};

/// The most writes one group commit takes: a bound on how long the first
/// of them waits for the last.
const MAX_GROUP: usize = 64;

/// A store shared by concurrent checks. Cheap to clone.
#[derive(Clone)]
pub struct SharedStore {
    store: Arc<Mutex<Box<dyn Store + Send>>>,
    /// Writes waiting for the next group commit.
    waiting: Arc<Mutex<Vec<Box<dyn Pending>>>>,
}

impl SharedStore {
    /// Wraps a store for shared use.
    pub fn new(store: Box<dyn Store + Send>) -> SharedStore {
        SharedStore {
            store: Arc::new(Mutex::new(store)),
            waiting: Arc::new(Mutex::new(Vec::new())),
        }
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
        f(self.lock().as_mut())
    }

    /// Runs the write `f` on the blocking pool, in one transaction with the
    /// writes other tasks hand over meanwhile (a group commit), and returns
    /// once it is committed. `f` is atomic on its own: if it fails, its
    /// writes are rolled back and the group's others still commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, done) = oneshot::channel();
        lock(&self.waiting).push(Box::new(Write {
            f: Some(f),
            result: None,
            reply,
        }));
        // Every write brings a committer; whichever gets the store first
        // takes all that wait, the others find nothing left to do.
        let this = self.clone();
        let committer = tokio::task::spawn_blocking(move || this.commit_waiting());
        match done.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The committer itself failed before telling anyone.
            Err(_) => match committer.await {
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                _ => Err(StoreError::NotCommitted(
                    "the committing task ended before this write".to_owned(),
                )),
            },
        }
    }

    /// Commits the writes waiting now (up to [`MAX_GROUP`]) in one
    /// transaction, then tells each its result.
    fn commit_waiting(&self) {
        let mut store = self.lock();
        let mut group: Vec<Box<dyn Pending>> = {
            let mut waiting = lock(&self.waiting);
            let n = waiting.len().min(MAX_GROUP);
            waiting.drain(..n).collect()
        };
        if group.is_empty() {
            return;
        }
        let committed = store.in_one_transaction(group.len(), &mut |i, s| group[i].run(s));
        drop(store);
        if let Err(e) = &committed {
            tracing::error!(writes = group.len(), error = %e, "a group commit failed; its writes were rolled back");
        }
        for write in group {
            write.finish(committed.as_ref().err());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Box<dyn Store + Send>> {
        lock(&self.store)
    }
}

/// A poisoned lock is taken anyway: a panic while holding it cannot have
/// left a half-written check, since the open transaction rolls back when
/// it is dropped.
fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A write waiting for a group commit, its type erased.
trait Pending: Send {
    /// Runs the write; whether it is to be kept.
    fn run(&mut self, store: &mut dyn Store) -> bool;
    /// Tells the writer its result, once the group's transaction ended
    /// (`failed`: it did not commit).
    fn finish(self: Box<Self>, failed: Option<&StoreError>);
}

type Outcome<T> = Result<Result<T, StoreError>, Box<dyn Any + Send>>;

struct Write<T, F> {
    f: Option<F>,
    result: Option<Outcome<T>>,
    reply: oneshot::Sender<Outcome<T>>,
}

impl<T, F> Pending for Write<T, F>
where
    T: Send,
    F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, store: &mut dyn Store) -> bool {
        let f = self.f.take().expect("a write runs once");
        // A panic is the writer's, not the group's: rolled back alone and
        // raised again in the writer's task.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(store)));
        let kept = matches!(result, Ok(Ok(_)));
        self.result = Some(result);
        kept
    }

    fn finish(self: Box<Self>, failed: Option<&StoreError>) {
        let result = match (self.result, failed) {
            (Some(Ok(Ok(_))), Some(e)) => Ok(Err(StoreError::NotCommitted(e.to_string()))),
            (Some(result), _) => result,
            (None, e) => Ok(Err(StoreError::NotCommitted(e.map_or_else(
                || "the group ended before this write ran".to_owned(),
                ToString::to_string,
            )))),
        };
        // The writer may have gone (its task cancelled): nothing to tell.
        let _ = self.reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn writes_handed_over_meanwhile_commit_together_each_whole() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedStore::new(Box::new(SqliteStore::open_in(dir.path()).unwrap()));
        let reader = Arc::new(Mutex::new(SqliteStore::open_in(dir.path()).unwrap()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Something else holds the store while ten writes come in.
        let (locked_tx, locked) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                shared.blocking(|_| {
                    locked_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                });
            })
        };
        locked.recv().unwrap();
        let results = runtime.block_on(async {
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let (shared, reader) = (shared.clone(), reader.clone());
                    tokio::spawn(async move {
                        shared
                            .write(move |s| {
                                s.ensure_watch(&format!("w{i}"), "https://example.org/")?;
                                match i {
                                    3 => Err(StoreError::Corrupt("refused".to_owned())),
                                    7 => panic!("write 7 panics"),
                                    // What another connection sees meanwhile.
                                    _ => Ok(lock(&reader).watches()?.len()),
                                }
                            })
                            .await
                    })
                })
                .collect();
            while lock(&shared.waiting).len() < 10 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            release.send(()).unwrap();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await);
            }
            results
        });
        holder.join().unwrap();
        for (i, result) in results.into_iter().enumerate() {
            match (i, result) {
                (3, Ok(Err(StoreError::Corrupt(_)))) => {}
                (7, Err(e)) if e.is_panic() => {}
                // One group: none of its writes was visible before it
                // committed.
                (_, Ok(Ok(seen))) if i != 3 && i != 7 => assert_eq!(seen, 0, "write {i}"),
                (i, other) => panic!("write {i}: {other:?}"),
            }
        }
        let names: Vec<String> = lock(&reader)
            .watches()
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["w0", "w1", "w2", "w4", "w5", "w6", "w8", "w9"]);
    }
}
