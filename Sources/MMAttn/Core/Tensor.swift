import Foundation

/// Owner of a tensor's floats: memory the library allocated, or a read-only view into memory
/// another object owns (a memory-mapped checkpoint), which it keeps alive.
/// `@unchecked Sendable` is safe: tensors are written only by the operation that creates them,
/// before they are shared; read-only views are never written at all (`Tensor.data` refuses them).
public final class TensorStorage: @unchecked Sendable {
    /// The first element. Handed out mutable only by `Tensor.data`, which checks `isWritable`.
    let base: UnsafeMutablePointer<Float>
    public let count: Int
    /// False for a view of memory the library must not write (a checkpoint mapped `PROT_READ`).
    public let isWritable: Bool
    /// True for a view of a file mapped read-only (`releaseResidentPages` may drop its pages).
    let isMappedFile: Bool
    private let owner: AnyObject?

    /// Fresh, zero-filled storage of `count` floats.
    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// Fresh storage of `count` floats with unspecified contents, for an operation that writes
    /// every element before anything reads it.
    public init(uninitializedCount count: Int) {
        self.count = count
        base = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        isWritable = true
        isMappedFile = false
        owner = nil
    }

    /// A read-only view of memory that `owner` keeps valid.
    public convenience init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.init(borrowing: pointer, count: count, owner: owner, mappedFile: false)
    }

    /// A read-only view of memory that `owner` keeps valid; `mappedFile` when it lies in a file
    /// mapped read-only and private (a checkpoint), whose pages may be dropped and read again.
    init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject, mappedFile: Bool) {
        base = UnsafeMutablePointer(mutating: pointer)  // never written: `isWritable` is false
        self.count = count
        isWritable = false
        isMappedFile = mappedFile
        self.owner = owner
    }

    /// For a view of a mapped checkpoint whose values were copied into another form (bf16
    /// weights): hand its whole pages back to the kernel, so they stop counting as this process's
    /// memory. Reading them later reads the file again; other storage is left alone.
    func releaseResidentPages() {
        guard isMappedFile, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + count * MemoryLayout<Float>.stride) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
    }

    deinit {
        if owner == nil { base.deallocate() }
    }
}

/// A dense, row-major tensor of `Float`. Tensors are written only by the operation that creates
/// them; afterwards they are read-only values that share storage when copied or reshaped.
public struct Tensor: Sendable {
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
        values.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Wrap existing storage with a shape.
    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) <= storage.count)
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The elements, for reading; any tensor, weights mapped from a checkpoint included. The
    /// pointer is valid while the tensor is alive: never take it from a temporary (`f().pointer[0]`);
    /// keep the tensor in a variable that is used after the pointer, or use `withExtendedLifetime`.
    public var pointer: UnsafePointer<Float> { UnsafePointer(storage.base) }
    /// The elements, for the operation that writes them (and kernels reading its own buffers).
    /// Only tensors the library allocated have them: a view of a memory-mapped checkpoint stops
    /// here with a message instead of faulting at its first write (`copy()` it to get a writable one).
    public var data: UnsafeMutablePointer<Float> {
        precondition(storage.isWritable, "Tensor.data: this tensor is a read-only view of checkpoint weights; read it through `pointer` or copy() it")
        return storage.base
    }
    /// Whether `data` may be used (false for weights mapped from a checkpoint).
    public var isWritable: Bool { storage.isWritable }
    /// A copy of the elements as an array.
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

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
        out.data.update(from: pointer + range.lowerBound * width, count: range.count * width)
        return out
    }

    /// A deep copy (for callers that will write into the result).
    public func copy() -> Tensor {
        let out = Tensor(uninitialized: shape)
        out.data.update(from: pointer, count: count)
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
            (out.data + i * n).update(from: t.pointer, count: n)
        }
        return out
    }
}

extension Tensor {
    /// Throws when any element is NaN or infinite: a model whose outputs are not finite almost always
    /// has corrupt weights, and a clear error beats a file of NaNs.
    public func checkFinite(_ what: String, file: String? = nil) throws {
        for i in 0..<count where !pointer[i].isFinite {
            throw MMAttnError("the \(what) contain non-finite values (NaN or infinity): the checkpoint's weights are probably corrupt", file: file)
        }
    }
}
