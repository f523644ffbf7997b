import CBLAS
import Foundation

/// Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers"): how
/// much each input token contributes to each position after all layers, taking the residual
/// connection into account. Each layer's attention, averaged over heads, becomes
/// A' = 0.5·A + 0.5·I with rows renormalised to sum 1, and the layers are multiplied in order:
/// rollout = A'_L · … · A'_2 · A'_1, shape [T, T] (row: a position at the output, column: an input
/// token).
///
/// Layers are added one at a time (`add`), so a caller need not hold every layer's attention at
/// once; `rollout(_:)` does it for a tensor of all layers.
public struct AttentionRollout: Sendable {
    /// Tokens per sequence, T.
    public let tokens: Int
    /// Layers added so far.
    public private(set) var layers = 0
    /// The product so far, [T, T]; nil before the first layer (the identity).
    private var product: Tensor?

    /// An empty rollout over `tokens` tokens.
    public init(tokens: Int) throws {
        guard tokens > 0 else { throw MMAttnError("attention rollout needs at least one token") }
        guard tokens <= 1 << 14 else {
            throw MMAttnError("attention rollout over \(tokens) tokens needs \(tokens)x\(tokens) matrices; at most \(1 << 14) tokens are supported")
        }
        self.tokens = tokens
    }

    /// The rollout of every layer of `probs`: shape [L, H, T, T] (or [L, T, T] already averaged
    /// over heads) to [T, T].
    public static func rollout(_ probs: Tensor) throws -> Tensor {
        guard probs.shape.count == 3 || probs.shape.count == 4, probs.shape[0] > 0 else {
            throw MMAttnError("attention rollout needs attention of shape [layers, heads, T, T]; got \(probs.shape)")
        }
        let T = probs.shape[probs.shape.count - 1]
        let heads = probs.shape.count == 4 ? probs.shape[1] : 1
        guard probs.shape.suffix(2) == [T, T], heads > 0, T > 0 else {
            throw MMAttnError("attention rollout needs attention of shape [layers, heads, T, T]; got \(probs.shape)")
        }
        var rollout = try AttentionRollout(tokens: T)
        withExtendedLifetime(probs) {
            for l in 0..<probs.shape[0] { rollout.add(probs.pointer + l * heads * T * T, heads: heads) }
        }
        return rollout.result
    }

    /// Multiply in the next layer's attention: shape [H, T, T] (averaged over heads here) or [T, T].
    public mutating func add(_ attention: Tensor) throws {
        let T = tokens
        let shape = attention.shape
        guard (shape.count == 2 || shape.count == 3), shape.suffix(2) == [T, T], attention.count > 0 else {
            throw MMAttnError("attention rollout over \(T) tokens needs one layer's attention of shape [heads, \(T), \(T)]; got \(shape)")
        }
        withExtendedLifetime(attention) { add(attention.pointer, heads: shape.count == 3 ? shape[0] : 1) }
    }

    /// Multiply in one layer's attention, `heads` matrices [T, T] one after the other.
    mutating func add(_ attention: UnsafePointer<Float>, heads: Int) {
        let T = tokens
        let a = Tensor(zeros: [T, T])  // [T, T]: the mean over heads, then A'
        let p = a.data
        AttentionRollout.meanOverHeads(attention, heads: heads, block: T * T, into: p)
        // A' = 0.5·A + 0.5·I, each row renormalised (rows of a softmax already sum to 1 unless masked).
        for i in 0..<T {
            let row = p + i * T
            row[i] += 1
            var sum: Float = 0
            for j in 0..<T { sum += row[j] }
            let inv = 1 / sum
            for j in 0..<T { row[j] *= inv }
        }
        guard let previous = product else {
            product = a
            layers = 1
            return
        }
        // product = A' · product, the output columns split over the library's threads.
        let out = Tensor(uninitialized: [T, T])  // [T, T]
        let units = (T + 15) / 16
        BLAS.prepare()
        withExtendedLifetime((a, previous)) {
            let ap = a.pointer, bp = previous.pointer, op = out.data
            Threads.parallelFor(units, grain: max(1, (1 << 21) / max(T * T * 16, 1))) { u0, u1 in
                let j0 = u0 * 16, j1 = min(u1 * 16, T)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(j1 - j0), Int32(T),
                            1, ap, Int32(T), bp + j0, Int32(T), 0, op + j0, Int32(T))
            }
        }
        product = out
        layers += 1
    }

    /// The rollout of the layers added so far, [T, T] (the identity before any).
    public var result: Tensor {
        if let product { return product }
        let identity = Tensor(zeros: [tokens, tokens])  // [T, T]
        for i in 0..<tokens { identity.data[i * tokens + i] = 1 }
        return identity
    }

    /// The mean over the heads axis: [..., H, Tq, Tk] to [..., Tq, Tk].
    public static func headMean(_ probs: Tensor) throws -> Tensor {
        let shape = probs.shape
        guard shape.count >= 3, shape[shape.count - 3] > 0 else {
            throw MMAttnError("averaging over heads needs attention of shape [..., heads, queries, keys]; got \(shape)")
        }
        let H = shape[shape.count - 3], block = shape[shape.count - 2] * shape[shape.count - 1]
        let outer = probs.count / (H * block)
        let out = Tensor(zeros: Array(shape.prefix(shape.count - 3)) + Array(shape.suffix(2)))  // [..., Tq, Tk]
        withExtendedLifetime(probs) {
            for o in 0..<outer { meanOverHeads(probs.pointer + o * H * block, heads: H, block: block, into: out.data + o * block) }
        }
        return out
    }

    /// `dst[k]` = the mean over h of `src[h * block + k]`; `dst` ([block]) must start at zero.
    private static func meanOverHeads(_ src: UnsafePointer<Float>, heads H: Int, block: Int, into dst: UnsafeMutablePointer<Float>) {
        for h in 0..<H {
            let s = src + h * block
            for k in 0..<block { dst[k] += s[k] }
        }
        let inv = 1 / Float(H)
        for k in 0..<block { dst[k] *= inv }
    }
}
