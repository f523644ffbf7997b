import Dispatch
import Foundation

/// How many threads the library's loops use, GEMMs included (each thread makes its own
/// single-threaded BLAS call). Defaults to the number of active cores; `MMATTN_NUM_THREADS` overrides
/// it for the process, and `Threads.withCount(_:_:)` for one piece of work.
public enum Threads {
    /// The process default: `MMATTN_NUM_THREADS` when set to a positive integer, else the active cores.
    public static let defaultCount: Int = {
        if let s = ProcessInfo.processInfo.environment["MMATTN_NUM_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// A count bound by `withCount` for the work running inside it (a task-local value, so
    /// concurrent callers each see their own).
    @TaskLocal static var boundCount: Int?

    /// Threads the library's loops split work over.
    public static var count: Int { boundCount ?? defaultCount }

    /// Run `body` with the library's loops split over `count` threads (at least 1).
    public static func withCount<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        try $boundCount.withValue(max(1, count), operation: body)
    }

    /// Run `body(start, end)` over `0..<n` split into contiguous chunks, one per thread. Small jobs
    /// (fewer than `grain` items per thread) run inline.
    @inline(__always)
    public static func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int, Int) -> Void) {
        let workers = min(count, max(1, n / max(grain, 1)))
        if workers <= 1 { body(0, n); return }
        forEachWorker(workers) { w in
            let start = n * w / workers, end = n * (w + 1) / workers
            if start < end { body(start, end) }
        }
    }

    /// Run `body(w)` for w in 0..<workers on the library's threads and return when all are done.
    /// `body` may capture raw pointers: each worker must write only memory no other worker touches.
    public static func forEachWorker(_ workers: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let shared = WorkerBody(body)
            DispatchQueue.concurrentPerform(iterations: workers) { shared.body($0) }
        }
    }

    /// A non-Sendable closure handed to `concurrentPerform`. Safe because `concurrentPerform`
    /// returns only after every iteration has finished (the closure and what it captures outlive
    /// all uses), and callers give each worker disjoint memory to write.
    private struct WorkerBody: @unchecked Sendable {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
    }
}
