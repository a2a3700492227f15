//! Text to AST: spans, the tree, the parser behind `parse`, and the formatter.

pub mod ast;
pub mod fmt;
pub mod parser;
pub mod span;
pub mod visit;

pub use parser::parse;

/// The stack of every thread that parses, checks or formats (the CLI's own
/// and the checker's workers). Each pass recurses once per level of an
/// expression, and the parser bounds those at [`parser::MAX_EXPR_DEPTH`];
/// this leaves an unoptimised build more than ten times the room that
/// needs. Only the pages used are ever committed.
pub const STACK_SIZE: usize = 64 << 20;

/// Spawns a scoped thread with [`STACK_SIZE`] (a spawned thread otherwise
/// gets 2 MiB, less than the main thread's 8).
pub fn spawn_scoped<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::thread::ScopedJoinHandle<'scope, T> {
    std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn_scoped(scope, f)
        .expect("the system can start a thread")
}

/// `f` of every item, in the items' order, computed on every core: each
/// thread takes the next item not yet taken, so a thread that the system
/// holds back (a busy machine) leaves its share to the others instead of
/// making them wait at the end. Give large items first where sizes differ:
/// `order` lists the indices of `items` in the order to take them.
pub fn map_on_cores<T: Sync, R: Send>(
    items: &[T],
    order: &[usize],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    debug_assert_eq!(order.len(), items.len());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else {
                return done;
            };
            done.push((i, f(&items[i])));
        }
    };
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    // Only spawned threads work, each with [`STACK_SIZE`]: the caller's own
    // stack may be a test thread's 2 MiB.
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads).map(|_| spawn_scoped(scope, work)).collect();
        for h in workers {
            for (i, r) in h.join().expect("work on the cores never panics") {
                results[i] = Some(r);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item is taken once"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::map_on_cores;

    #[test]
    fn every_item_is_mapped_once_and_results_keep_the_items_order() {
        let items: Vec<usize> = (0..1000).collect();
        // Taken in reverse, and in an order that jumps about.
        for order in [
            (0..1000).rev().collect::<Vec<_>>(),
            (0..1000).map(|i| (i * 7919) % 1000).collect(),
        ] {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            let out = map_on_cores(&items, &order, |&i| {
                calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i * 2
            });
            assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(calls.into_inner(), 1000);
        }
        assert!(map_on_cores(&[] as &[usize], &[], |&i| i).is_empty());
    }
}
