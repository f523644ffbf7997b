import Foundation

/// One class of a classifier's output.
public struct Prediction: Sendable, Equatable {
    /// Index into the checkpoint's labels.
    public let index: Int
    /// The checkpoint's `id2label` name.
    public let label: String
    /// Softmax probability, or sigmoid for multi-label checkpoints.
    public let score: Float
}

/// One input's classification: its top predictions and all its logits.
public struct Classification: Sendable {
    /// The input as the caller named it (a file path).
    public let input: String
    /// The best classes, by score, descending.
    public let predictions: [Prediction]
    /// Every class's logit, [L].
    public let logits: Tensor

    /// A result as the classifiers make it (the server assembles them from batched logits).
    public init(input: String, predictions: [Prediction], logits: Tensor) {
        self.input = input
        self.predictions = predictions
        self.logits = logits
    }
}

public enum Scores {
    /// The `k` best classes of `logits` ([L]) by score, descending; ties keep index order.
    public static func top(_ k: Int, logits: Tensor, labels: [String], multiLabel: Bool) -> [Prediction] {
        top(k, logits: logits, labels: labels, scoring: multiLabel ? .sigmoid : .softmax)
    }

    /// The `k` best classes of `logits` ([L]) scored as `scoring` says, descending; ties keep index order.
    public static func top(_ k: Int, logits: Tensor, labels: [String], scoring: Scoring) -> [Prediction] {
        let n = logits.count
        var scores = [Float](repeating: 0, count: n)
        switch scoring {
        case .none:
            for i in 0..<n { scores[i] = logits.data[i] }
        case .sigmoid:
            for i in 0..<n { scores[i] = 1 / (1 + Foundation.exp(-logits.data[i])) }
        case .softmax:
            let m = (0..<n).map { logits.data[$0] }.max() ?? 0
            var sum: Double = 0
            for i in 0..<n { scores[i] = Foundation.exp(logits.data[i] - m); sum += Double(scores[i]) }
            for i in 0..<n { scores[i] = Float(Double(scores[i]) / sum) }
        }
        let order = (0..<n).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return order.prefix(max(0, k)).map { Prediction(index: $0, label: $0 < labels.count ? labels[$0] : "LABEL_\($0)", score: scores[$0]) }
    }
}
