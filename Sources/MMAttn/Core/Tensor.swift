import Foundation

/// Owner of a tensor's floats: memory the library allocated, or a view into memory another object
/// owns (a memory-mapped checkpoint), which it keeps alive.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owner: AnyObject?

    /// Fresh, zero-filled storage of `count` floats.
    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// Fresh storage of `count` floats with unspecified contents, for an operation that writes
    /// every element before anything reads it.
    public init(uninitializedCount count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        owner = nil
    }

    /// A view into memory that `owner` keeps valid (for example a mapped file).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit {
        if owner == nil { pointer.deallocate() }
    }
}

/// A dense, row-major tensor of `Float`. Tensors are written only by the operation that creates
/// them; afterwards they are read-only values that share storage when copied or reshaped.
public struct Tensor: @unchecked Sendable {
    /// Sizes of the axes, outermost first.
    public let shape: [Int]
    public let storage: TensorStorage

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
    }

    /// A tensor whose elements are unspecified until written: for buffers an operation overwrites
    /// completely (GEMM outputs, layer-norm outputs, copies), so they are not zero-filled first.
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(uninitializedCount: shape.reduce(1, *))
    }

    /// A tensor holding `values` (row-major); `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "Tensor(shape:values:): \(values.count) values for shape \(shape)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Wrap existing storage with a shape.
    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) <= storage.count)
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The elements, for the operation that writes them and for kernels that read them. The pointer
    /// is valid while the tensor is alive: never take it from a temporary (`f().data[0]`); keep
    /// the tensor in a variable that is used after the pointer, or use `withExtendedLifetime`.
    public var data: UnsafeMutablePointer<Float> { storage.pointer }
    /// A copy of the elements as an array.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) -> \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    /// Pointer to the start of row `i` of a 2-D view `[shape[0], rest]`.
    public func row(_ i: Int) -> UnsafeMutablePointer<Float> {
        data + i * (count / shape[0])
    }

    /// A copy of rows `range` along the first axis.
    public func rows(_ range: Range<Int>) -> Tensor {
        let width = count / shape[0]
        var s = shape
        s[0] = range.count
        let out = Tensor(uninitialized: s)
        out.data.update(from: data + range.lowerBound * width, count: range.count * width)
        return out
    }

    /// A deep copy (for callers that will write into the result).
    public func copy() -> Tensor {
        let out = Tensor(uninitialized: shape)
        out.data.update(from: data, count: count)
        return out
    }

    /// Stack tensors of one shape along a new first axis.
    public static func stack(_ tensors: [Tensor]) -> Tensor {
        precondition(!tensors.isEmpty)
        let inner = tensors[0].shape
        let out = Tensor(uninitialized: [tensors.count] + inner)
        let n = tensors[0].count
        for (i, t) in tensors.enumerated() {
            precondition(t.shape == inner, "stack: shape \(t.shape) differs from \(inner)")
            (out.data + i * n).update(from: t.data, count: n)
        }
        return out
    }
}

extension Tensor {
    /// Throws when any element is NaN or infinite: a model whose outputs are not finite almost always
    /// has corrupt weights, and a clear error beats a file of NaNs.
    public func checkFinite(_ what: String, file: String? = nil) throws {
        for i in 0..<count where !data[i].isFinite {
            throw MMAttnError("the \(what) contain non-finite values (NaN or infinity): the checkpoint's weights are probably corrupt", file: file)
        }
    }
}
