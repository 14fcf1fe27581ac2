//! Bounded parallelism without a thread pool: scoped threads over chunks of the input. Used
//! by the adapters (many cloud calls at once) and below them (certificates made in parallel).

/// Runs `f` over `items` with at most `limit` at a time, keeping the input order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let limit = limit.max(1);
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(limit) {
        let results: Vec<R> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|item| s.spawn(|| f(item))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        out.extend(results);
    }
    out
}
