import Foundation

/// The embeddings of several inputs (files) and how the embedding commands store them
/// (CONTRACT.md): one input gives its tensor; several stack along a new first axis, in input order.
/// Inputs whose outputs differ in shape (`--pooling none` over clips of different lengths) cannot
/// stack: a `.safetensors` file then holds each input's tensor under the input's name.
public struct Embeddings: Sendable {
    /// The tensor name in a `.safetensors` output (`embedding`, `last_hidden_state`).
    public let name: String
    /// Each input (as the caller named it) and its embedding, in input order.
    public private(set) var items: [(input: String, tensor: Tensor)] = []

    public init(name: String) { self.name = name }

    public mutating func append(_ tensor: Tensor, input: String) { items.append((input, tensor)) }

    /// The first two inputs whose shapes differ, or nil when all agree.
    public var shapeMismatch: (first: (String, [Int]), other: (String, [Int]))? {
        Self.mismatch(in: items.map { ($0.input, $0.tensor.shape) })
    }

    /// The first two of (input, shape) pairs whose shapes differ, or nil when all agree.
    static func mismatch(in shapes: [(String, [Int])]) -> (first: (String, [Int]), other: (String, [Int]))? {
        guard let first = shapes.first, let other = shapes.first(where: { $0.1 != first.1 }) else { return nil }
        return (first, other)
    }

    /// Throw, naming two inputs, when predicted output shapes (input, shape) differ.
    static func checkSameShapes(_ shapes: [(String, [Int])]) throws {
        if let m = mismatch(in: shapes) { throw mismatchError(m) }
    }

    /// The one array `.npy` and `.json` outputs hold: the single input's tensor, or all of them
    /// stacked, [N, ...]. Throws, naming two inputs, when their shapes differ.
    public func stacked() throws -> Tensor {
        guard !items.isEmpty else { throw MMAttnError("no inputs were embedded") }
        if let m = shapeMismatch { throw Self.mismatchError(m) }
        return items.count == 1 ? items[0].tensor : Tensor.stack(items.map(\.tensor))
    }

    /// The error for inputs whose outputs cannot share one array.
    public static func mismatchError(_ m: (first: (String, [Int]), other: (String, [Int]))) -> MMAttnError {
        MMAttnError("gives an output of shape \(m.other.1), but \(m.first.0) gives \(m.first.1): outputs of different shapes "
                    + "cannot stack into one array; write a .safetensors output (one tensor per input) or embed them separately",
                    file: m.other.0)
    }

    /// Write to `path` as its extension says (`.npy`, `.json`: the stacked array; `.safetensors`: the
    /// stacked array under `name`, or one tensor per input, named by the input, when shapes differ).
    /// Returns a short description of what was written ("float32 [2, 384]", "3 tensors").
    @discardableResult
    public func write(to path: String) throws -> String {
        if try OutputFile.format(of: path) == .safetensors, shapeMismatch != nil {
            var seen = Set<String>()
            for (input, _) in items where !seen.insert(input).inserted {
                throw MMAttnError("is given twice; with outputs of different shapes each input needs its own name", file: input)
            }
            try OutputFile.write(items[0].tensor, primaryName: name, named: items.map { ($0.input, $0.tensor) }, to: path)
            return "\(items.count) tensors, one per input"
        }
        let all = try stacked()
        try OutputFile.write(all, primaryName: name, to: path)
        return "float32 \(all.shape)"
    }

    /// Token-level embeddings ([T, D] each) zero-padded to the longest T, so they stack into [N, T, D].
    public func zeroPadded() -> Embeddings {
        let longest = items.map { $0.tensor.shape[0] }.max() ?? 0
        var out = Embeddings(name: name)
        for (input, t) in items {
            guard t.shape.count == 2, t.shape[0] < longest else { out.append(t, input: input); continue }
            let padded = Tensor(zeros: [longest, t.shape[1]])  // [T_max, D]
            padded.data.update(from: t.pointer, count: t.count)
            withExtendedLifetime(t) {}
            out.append(padded, input: input)
        }
        return out
    }
}
