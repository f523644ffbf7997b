import Foundation
import Prometheus

/// The server's Prometheus metrics, in a registry of its own (`GET /metrics`).
///
/// - `mmattn_requests_total{route,status}`: answered requests.
/// - `mmattn_request_duration_seconds{route}`: latency histogram, arrival to response.
/// - `mmattn_batch_size{model}`: requests merged per batch; `mmattn_batch_cost{model}`: their
///   tokens (text), images, clips or records.
/// - `mmattn_batch_duration_seconds{model}`: time the model took per batch.
/// - `mmattn_queue_depth{model}`: requests waiting; `mmattn_rejected_total{model}`: refused with 429.
/// - `mmattn_tokens_total{model}`: tokens embedded (`rate()` of it is tokens per second), and
///   `mmattn_tokens_per_second{model}`: the last batch's rate.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
    private static let sizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    private static let costBuckets: [Double] = [16, 64, 256, 1024, 4096, 16384, 65536]

    func request(route: String, status: Int, seconds: Double) {
        registry.makeCounter(descriptor: Self.name("requests", "total", "HTTP requests answered, by route and status"),
                             labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.name("request_duration", "seconds", "Time from a request's arrival to its response"),
                                       labels: [("route", route)], buckets: Self.latencyBuckets).record(.seconds(seconds))
    }

    func batch(model: String, jobs: Int, cost: Int, seconds: Double) {
        let labels = [("model", model)]
        registry.makeValueHistogram(descriptor: Self.name("batch", "size", "Requests merged into one batch"),
                                    labels: labels, buckets: Self.sizeBuckets).record(Double(jobs))
        registry.makeValueHistogram(descriptor: Self.name("batch", "cost", "Tokens (text), images, clips or records in one batch"),
                                    labels: labels, buckets: Self.costBuckets).record(Double(cost))
        registry.makeDurationHistogram(descriptor: Self.name("batch_duration", "seconds", "Time the model took for one batch"),
                                       labels: labels, buckets: Self.latencyBuckets).record(.seconds(seconds))
    }

    func tokens(model: String, count: Int, seconds: Double) {
        registry.makeCounter(descriptor: Self.name("tokens", "total", "Tokens embedded"), labels: [("model", model)])
            .increment(by: Int64(count))
        guard seconds > 0 else { return }
        registry.makeGauge(descriptor: Self.name("tokens_per", "second", "Tokens per second of the last text batch"),
                           labels: [("model", model)]).set(Double(count) / seconds)
    }

    func queueDepth(model: String, _ depth: Int) {
        registry.makeGauge(descriptor: Self.name("queue", "depth", "Requests waiting for the model"), labels: [("model", model)])
            .set(Double(depth))
    }

    func rejected(model: String) {
        registry.makeCounter(descriptor: Self.name("rejected", "total", "Requests refused with 429 because the model's queue was full"),
                             labels: [("model", model)]).increment()
    }

    /// `mmattn_<metric>_<unit>`, with its help text.
    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "mmattn", metricName: metric, unitName: unit, helpText: help)
    }

    /// The Prometheus text exposition of every metric.
    func text() -> String { registry.emitToString() }
}
