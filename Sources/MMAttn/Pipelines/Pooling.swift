import Foundation

/// How an image or audio embedding is reduced from the last hidden state.
public enum Pooling: String, Sendable, CaseIterable {
    /// The first token ([CLS]).
    case cls
    /// The mean over tokens (Whisper: over the frames that cover the audio; AST: the model's
    /// pooled output, the mean of its two leading tokens).
    case mean
    /// The whole last hidden state, [T, D].
    case none

    /// Reduce a last hidden state `hidden` ([T, D]): `cls` → row 0 [D]; `mean` → the mean of the rows
    /// in `meanRows` (all rows when nil) [D]; `none` → `hidden` itself.
    public func apply(_ hidden: Tensor, meanRows: Range<Int>? = nil) -> Tensor {
        let D = hidden.shape[1]
        switch self {
        case .none: return hidden
        case .cls: return hidden.rows(0..<1).reshaped([D])
        case .mean:
            var mean = RowMean(width: D)
            mean.add(hidden, rows: meanRows ?? 0..<hidden.shape[0])
            return mean.result
        }
    }
}

/// A running mean of rows of width D, accumulated from several tensors (Whisper's 30 s windows).
public struct RowMean {
    private let sum: Tensor  // [D]
    private var count = 0

    public init(width: Int) { sum = Tensor(zeros: [width]) }

    /// Add rows `rows` of `x` ([T, D]).
    public mutating func add(_ x: Tensor, rows: Range<Int>) {
        let D = sum.count
        for t in rows { Kernels.add(x.pointer + t * D, into: sum.data, count: D) }
        count += rows.count
        withExtendedLifetime(x) {}
    }

    /// The mean of the rows added so far ([D]; zeros when none were).
    public var result: Tensor {
        let out = sum.copy()
        let scale = 1 / Float(max(count, 1))
        for d in 0..<out.count { out.data[d] *= scale }
        return out
    }
}
