import Foundation
import MMAttn

/// How a model's queue forms batches and bounds its waiting requests.
struct BatchSettings: Sendable {
    /// The most cost one batch may hold (a single larger job still runs alone).
    var budget: Int
    /// How long the oldest waiting job may wait for others to join its batch.
    var maxWait: Duration
    /// Jobs that may wait; one more is refused.
    var capacity: Int
    /// Jobs waiting longer than this are failed unrun.
    var timeout: Duration
}

/// The requests waiting for one model, merged into batches by a worker thread of the model's own.
///
/// A request joins the queue with a cost (its tokens, images or clips). The worker takes the
/// oldest requests whose costs fit in `budget` (always at least one), after waiting at most
/// `maxWait` from the oldest one's arrival for more to come, runs them as one call of `run`, and
/// hands each request its own result. A full queue refuses at once (`ServeError.overloaded`); a
/// request that waited longer than `timeout` when the worker forms its next batch is answered with
/// `ServeError.timedOut` unrun.
/// The model runs on this thread, never on the server's event loops.
final class BatchQueue<Job: Sendable, Output: Sendable>: @unchecked Sendable {
    private struct Waiting {
        let id: UInt64
        let job: Job
        let cost: Int
        let arrived: ContinuousClock.Instant
        let continuation: CheckedContinuation<Output, any Error>
    }

    let name: String
    let settings: BatchSettings
    private let run: @Sendable ([Job]) -> [Result<Output, any Error>]
    private let metrics: ServerMetrics
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var waiting: [Waiting] = []
    private var waitingCost = 0
    private var nextID: UInt64 = 0
    private var stopping = false
    private var stopped = false

    /// `run` gets the jobs of one batch and returns one result per job, in order.
    init(name: String, settings: BatchSettings, metrics: ServerMetrics, run: @escaping @Sendable ([Job]) -> [Result<Output, any Error>]) {
        self.name = name
        self.settings = settings
        self.metrics = metrics
        self.run = run
        let thread = Thread { [self] in work() }
        thread.name = "mmattn-batch"  // Linux keeps 15 characters
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queue `job` and wait for its result. Cancelling the calling task takes the job out of the
    /// queue (CancellationError) unless its batch has started.
    func submit(_ job: Job, cost: Int) async throws -> Output {
        let id = condition.withLock { nextID += 1; return nextID }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
                condition.lock()
                defer { condition.unlock() }
                if Task.isCancelled { continuation.resume(throwing: CancellationError()); return }
                guard !stopped else { continuation.resume(throwing: ServeError.unavailable("the server is shutting down")); return }
                guard waiting.count < settings.capacity else {
                    metrics.rejected(model: name)
                    continuation.resume(throwing: ServeError.overloaded)
                    return
                }
                waiting.append(Waiting(id: id, job: job, cost: cost, arrived: .now, continuation: continuation))
                waitingCost += cost
                metrics.queueDepth(model: name, waiting.count)
                condition.signal()
            }
        } onCancel: {
            condition.withLock {
                guard let i = waiting.firstIndex(where: { $0.id == id }) else { return }
                let w = waiting.remove(at: i)
                waitingCost -= w.cost
                metrics.queueDepth(model: name, waiting.count)
                w.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Finish what is queued, then end the worker thread.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while let batch = nextBatch() {
            let started = ContinuousClock.now
            let results = run(batch.map(\.job))
            metrics.batch(model: name, jobs: batch.count, cost: batch.reduce(0) { $0 + $1.cost }, seconds: (ContinuousClock.now - started).seconds)
            for (i, w) in batch.enumerated() {
                let missing = ServeError.internal("the \(name) batch gave no result for a request")
                w.continuation.resume(with: i < results.count ? results[i] : .failure(missing))
            }
        }
    }

    /// The next batch, or nil once stopping with nothing left.
    private func nextBatch() -> [Waiting]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            while waiting.isEmpty {
                if stopping { stopped = true; return nil }
                condition.wait()
            }
            // Let others join until the budget is full or the oldest has waited maxWait.
            let deadline = waiting[0].arrived + settings.maxWait
            while waitingCost < settings.budget && !stopping && ContinuousClock.now < deadline {
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, (deadline - .now).seconds)))
            }
            let now = ContinuousClock.now
            var batch: [Waiting] = [], cost = 0, taken = 0
            for w in waiting {
                if now - w.arrived > settings.timeout {
                    w.continuation.resume(throwing: ServeError.timedOut(settings.timeout))
                } else {
                    if !batch.isEmpty && cost + w.cost > settings.budget { break }
                    batch.append(w)
                    cost += w.cost
                }
                taken += 1
            }
            waiting.removeFirst(taken)
            waitingCost = waiting.reduce(0) { $0 + $1.cost }
            metrics.queueDepth(model: name, waiting.count)
            if !batch.isEmpty { return batch }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
