import Foundation

/// Element types of the safetensors format (the names the header uses).
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    /// Width of one element in bits (F4 and F6 pack several elements into a byte).
    public var bitWidth: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .C64, .F64, .I64, .U64: return 64
        }
    }

    /// Floating-point (and complex) types, as opposed to integers and booleans.
    public var isFloatingPoint: Bool {
        switch self {
        case .BOOL, .U8, .I8, .I16, .U16, .I32, .U32, .I64, .U64: return false
        default: return true
        }
    }

    /// Whether `SafetensorsFile.tensor` can read it as `Float`.
    public var isReadableAsFloat: Bool {
        switch self {
        case .F32, .F16, .BF16, .F64: return true
        default: return false
        }
    }
}

/// One tensor entry of a safetensors header.
public struct SafetensorsTensorInfo: Sendable {
    public let dtype: SafetensorsDType
    /// Sizes of the axes, outermost first; empty for a scalar.
    public let shape: [Int]
    /// Byte range inside the data buffer (which starts right after the header).
    public let dataOffsets: Range<Int>

    public var byteCount: Int { dataOffsets.count }
    /// Number of elements (the product of `shape`; validated not to overflow).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A `.safetensors` file, mapped read-only and validated as the reference parser
/// (huggingface/safetensors) does. Tensors read from it as F32 share the mapping (no copy);
/// the mapping stays alive as long as any of them does.
public final class SafetensorsFile: Sendable {
    /// The file, as given (used in every error message).
    public let path: String
    /// The optional `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Tensor entries by name.
    public let entries: [String: SafetensorsTensorInfo]
    /// Tensor names in data order (ascending offsets).
    public let names: [String]
    /// Size of the whole file in bytes.
    public let fileSize: Int

    private let mapping: FileMapping
    /// Offset of the data buffer from the start of the file (8 + header length).
    private let dataStart: Int

    /// Headers longer than this are rejected (the reference parser's limit).
    public static let maxHeaderBytes = 100_000_000

    /// Map and validate `path`. Throws `MMAttnError` naming the file and the problem.
    public init(path: String) throws {
        self.path = path
        mapping = try FileMapping(readOnly: path, what: "safetensors weights file")
        let size = mapping.length
        fileSize = size
        let header = try Self.parseHeader(UnsafeRawBufferPointer(start: mapping.base, count: size), file: path)
        dataStart = header.dataStart
        metadata = header.metadata
        entries = header.tensors
        names = header.names
    }

    /// The entry for `name`, if the file has it.
    public func info(_ name: String) -> SafetensorsTensorInfo? { entries[name] }

    /// Run `body` on the raw bytes of tensor `name` (little-endian, row-major); nil when the file
    /// has no such tensor. The bytes are only valid inside `body`: copy what must outlive it.
    public func withBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        guard let info = entries[name] else { return nil }
        return try withExtendedLifetime(mapping) {
            try body(UnsafeRawBufferPointer(start: mapping.base + dataStart + info.dataOffsets.lowerBound, count: info.byteCount))
        }
    }

    /// Tensor `name` as `Float`: F32 is a view into the mapping when it is 4-byte aligned (else a copy);
    /// F16, BF16 and F64 are converted. Other dtypes are rejected. A view is read-only memory (the
    /// mapping is `PROT_READ`), and its tensor says so: `Tensor.data` refuses it, `pointer` reads it;
    /// `copy()` gives a writable tensor.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = entries[name] else {
            throw MMAttnError("missing tensor \"\(name)\"", file: path)
        }
        return try mapping.floats(at: dataStart + info.dataOffsets.lowerBound, dtype: info.dtype, shape: info.shape, name: name, file: path)
    }

    // MARK: - Header validation

    struct Header {
        var metadata: [String: String]
        var tensors: [String: SafetensorsTensorInfo]
        var names: [String]
        var dataStart: Int
    }

    /// Validate a whole safetensors file held in `bytes`; errors name `file`.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws -> Header {
        func fail(_ message: String) -> MMAttnError { MMAttnError(message, file: file) }
        let size = bytes.count
        if isGitLFSPointer(bytes) {
            throw fail("Git LFS pointer, not the weights: run git lfs pull")
        }
        guard size >= 8 else {
            throw fail("the file is \(size) bytes long, too short for a safetensors file (it starts with an 8-byte header length): download the weights again")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw fail("the header length field says \(n) bytes, more than the \(maxHeaderBytes)-byte limit: not a safetensors file, or a damaged one")
        }
        let headerLength = Int(n)
        guard headerLength <= size - 8 else {
            throw fail("the header length field says \(headerLength) bytes, but only \(size - 8) bytes follow it: the file is truncated or not a safetensors file")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        let json: JSON
        do {
            json = try JSON.parse(headerBytes)
        } catch {
            if String(validating: headerBytes.bindMemory(to: UInt8.self), as: UTF8.self) == nil {
                throw fail("the header is not UTF-8 text: not a safetensors file, or a damaged one")
            }
            let detail = (error as? MMAttnError)?.message ?? "\(error)"
            throw fail("the header is not valid JSON (\(detail)): not a safetensors file, or a damaged one")
        }
        guard let object = json.object else {
            throw fail("the header must be a JSON object of tensor entries, found \(json.kindName)")
        }

        var metadata: [String: String] = [:]
        var entries: [(name: String, info: SafetensorsTensorInfo)] = []
        entries.reserveCapacity(object.keys.count)
        let dataSize = size - 8 - headerLength
        for key in object.keys {
            guard let value = object[key] else { continue }
            if key == "__metadata__" {
                metadata = try parseMetadata(value, fail)
                continue
            }
            let info = try parseEntry(key, value, fail)
            guard info.dataOffsets.upperBound <= dataSize else {
                let o = info.dataOffsets
                throw fail("tensor \"\(key)\" has data_offsets [\(o.lowerBound), \(o.upperBound)] past the end of the data buffer (\(dataSize) bytes after the header): the file is truncated or damaged")
            }
            entries.append((key, info))
        }

        // Sorted by offset, the tensors must tile the data buffer exactly.
        entries.sort { ($0.info.dataOffsets.lowerBound, $0.info.dataOffsets.upperBound) < ($1.info.dataOffsets.lowerBound, $1.info.dataOffsets.upperBound) }
        var end = 0
        var previous: String?
        for (name, info) in entries {
            let o = info.dataOffsets
            if o.lowerBound < end, let previous {
                throw fail("tensors \"\(previous)\" and \"\(name)\" overlap in the data buffer (\"\(name)\" starts at byte \(o.lowerBound), before byte \(end))")
            }
            if o.lowerBound > end {
                let after = previous.map { "after tensor \"\($0)\"" } ?? "at the start of the data buffer"
                throw fail("bytes \(end)..<\(o.lowerBound) \(after) belong to no tensor (a hole before \"\(name)\"): the file is damaged")
            }
            end = o.upperBound
            previous = name
        }
        guard end == dataSize else {
            throw fail("\(dataSize - end) byte(s) after the last tensor belong to no tensor (the tensors cover \(end) of \(dataSize) data bytes): the file is damaged or has extra data appended")
        }
        var tensors: [String: SafetensorsTensorInfo] = [:]
        tensors.reserveCapacity(entries.count)
        for e in entries { tensors[e.name] = e.info }
        return Header(metadata: metadata, tensors: tensors, names: entries.map(\.name), dataStart: 8 + headerLength)
    }

    /// A Git LFS pointer is the small text file a clone without git-lfs leaves in place of the weights.
    static func isGitLFSPointer(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let magic = "version https://git-lfs"
        return bytes.count >= magic.utf8.count && zip(magic.utf8, bytes).allSatisfy { $0 == $1 }
    }

    private static func parseMetadata(_ value: JSON, _ fail: (String) -> MMAttnError) throws -> [String: String] {
        if value.isNull { return [:] }
        guard let o = value.object else {
            throw fail("\"__metadata__\" must be an object mapping strings to strings, found \(value.kindName)")
        }
        var out: [String: String] = [:]
        for k in o.keys {
            guard let s = o[k]?.string else {
                throw fail("\"__metadata__\" must map strings to strings, but \"\(k)\" is \(o[k]?.kindName ?? "missing")")
            }
            out[k] = s
        }
        return out
    }

    /// A non-negative integer from the header; 64-bit overflow gets its own message.
    private static func size(_ v: JSON, _ what: String, _ name: String, _ fail: (String) -> MMAttnError) throws -> Int {
        if let i = v.int {
            guard i >= 0 else { throw fail("tensor \"\(name)\": \(what) \(i) is negative") }
            return i
        }
        if case .number(let text) = v, !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            throw fail("tensor \"\(name)\": \(what) \(text) is too large (it overflows 64-bit sizes)")
        }
        throw fail("tensor \"\(name)\": \(what) must be a non-negative integer, found \(v.kindName)")
    }

    private static func parseEntry(_ name: String, _ value: JSON, _ fail: (String) -> MMAttnError) throws -> SafetensorsTensorInfo {
        guard let o = value.object else {
            throw fail("entry \"\(name)\" must be an object with dtype, shape and data_offsets, found \(value.kindName)")
        }
        guard let dtypeValue = o["dtype"] else { throw fail("tensor \"\(name)\" has no \"dtype\"") }
        guard let dtypeName = dtypeValue.string else {
            throw fail("tensor \"\(name)\": \"dtype\" must be a string, found \(dtypeValue.kindName)")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            let known = SafetensorsDType.allCases.map(\.rawValue).joined(separator: " ")
            throw fail("tensor \"\(name)\" has unknown dtype \"\(dtypeName.prefix(40))\" (known: \(known))")
        }
        guard let shapeValue = o["shape"] else { throw fail("tensor \"\(name)\" has no \"shape\"") }
        guard let dims = shapeValue.array else {
            throw fail("tensor \"\(name)\": \"shape\" must be a list of non-negative integers, found \(shapeValue.kindName)")
        }
        let shape = try dims.map { try size($0, "shape dimension", name, fail) }
        guard let offsetsValue = o["data_offsets"] else { throw fail("tensor \"\(name)\" has no \"data_offsets\"") }
        guard let offsets = offsetsValue.array, offsets.count == 2 else {
            let found = offsetsValue.array.map { "a list of \($0.count) values" } ?? offsetsValue.kindName
            throw fail("tensor \"\(name)\": \"data_offsets\" must be a list [begin, end] of two integers, found \(found)")
        }
        let begin = try size(offsets[0], "data_offsets begin", name, fail)
        let end = try size(offsets[1], "data_offsets end", name, fail)
        guard begin <= end else {
            throw fail("tensor \"\(name)\" has data_offsets [\(begin), \(end)] with begin after end")
        }
        var elements = 1
        for d in shape {
            let (m, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("tensor \"\(name)\": shape \(shape) has too many elements (the count overflows 64 bits)") }
            elements = m
        }
        let (bits, overflow) = elements.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !overflow else { throw fail("tensor \"\(name)\": shape \(shape) of \(dtype.rawValue) is too large (its byte size overflows 64 bits)") }
        guard bits % 8 == 0 else {
            throw fail("tensor \"\(name)\": \(elements) elements of \(dtype.rawValue) do not fill whole bytes")
        }
        guard bits / 8 == end - begin else {
            throw fail("tensor \"\(name)\": shape \(shape) of \(dtype.rawValue) needs \(bits / 8) bytes, but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return SafetensorsTensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}

/// Conversions of checkpoint element types to `Float`: branch-free loops that LLVM vectorises (checked in
/// the release assembly: 4 lanes with baseline SSE2; explicit `SIMD8` code was much slower, as generic SIMD
/// operations were not specialised).
/// Sources may be unaligned (they point into a mapped file).
enum FloatConversion {
    /// IEEE half → single, exact for every input (normals, subnormals, ±0, ±inf, NaN), branch-free:
    /// normals and specials are rebiased by one multiply, subnormals come from a float subtraction.
    @inline(__always)
    static func halfToFloat(bits h: UInt16) -> Float {
        let w = UInt32(h) &<< 16
        let sign = w & 0x8000_0000
        let twice = w &<< 1 // exponent and mantissa at the top, sign dropped
        // Exponent rebias 15 → 127 in two steps: add (224 << 23), then scale by 2^-112.
        let normal = Float(bitPattern: (twice &>> 4) &+ (0xE0 &<< 23)) * Float(bitPattern: 0x0780_0000)
        // Subnormal m·2^-24: put m in the mantissa of 0.5 and subtract 0.5.
        let subnormal = Float(bitPattern: (twice &>> 17) | (126 &<< 23)) - 0.5
        let magnitude = twice < (1 &<< 27) ? subnormal.bitPattern : normal.bitPattern
        return Float(bitPattern: sign | magnitude)
    }

    static func halfToFloat(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            out[i] = halfToFloat(bits: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// bfloat16 is the top half of a float32: shifting is exact for every value.
    static func bfloat16ToFloat(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) &<< 16)
        }
    }

    /// Round to nearest, as `tensor.float()` does.
    static func doubleToFloat(_ source: UnsafeRawPointer, _ out: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            out[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
        }
    }

    /// `count` elements of `dtype` (F32, F16, BF16 or F64) `step` bytes apart, as Float; adjacent
    /// elements take the vectorised loops above.
    static func convert(_ source: UnsafeRawPointer, dtype: SafetensorsDType, step: Int, into out: UnsafeMutablePointer<Float>, count: Int) {
        let adjacent = step == dtype.bitWidth / 8
        switch dtype {
        case .F16 where adjacent: halfToFloat(source, out, count)
        case .BF16 where adjacent: bfloat16ToFloat(source, out, count)
        case .F64 where adjacent: doubleToFloat(source, out, count)
        case _ where adjacent: UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * 4)
        case .F16: for i in 0..<count { out[i] = halfToFloat(bits: source.loadUnaligned(fromByteOffset: i * step, as: UInt16.self)) }
        case .BF16: for i in 0..<count { out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: i * step, as: UInt16.self)) &<< 16) }
        case .F64: for i in 0..<count { out[i] = Float(source.loadUnaligned(fromByteOffset: i * step, as: Double.self)) }
        default: for i in 0..<count { out[i] = source.loadUnaligned(fromByteOffset: i * step, as: Float.self) }
        }
    }
}

extension FileMapping {
    /// The contiguous tensor of `shape` stored at byte `offset` as `dtype`, read as Float: a view
    /// into the mapping for 4-byte-aligned F32 (read-only memory: `Tensor.data` refuses it,
    /// `copy()` gives a writable tensor), else a converted copy. Dtypes other than F32, F16, BF16
    /// and F64 are an error naming tensor `name` of `file`.
    func floats(at offset: Int, dtype: SafetensorsDType, shape: [Int], name: String, file: String) throws -> Tensor {
        guard dtype.isReadableAsFloat else { throw Self.unreadable(name, dtype, file: file) }
        let count = shape.reduce(1, *)
        let source = base + offset
        if dtype == .F32 && Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
            return Tensor(shape: shape, storage: TensorStorage(borrowing: source.bindMemory(to: Float.self, capacity: count), count: count, owner: self,
                                                                         mappedFile: true))
        }
        let out = Tensor(uninitialized: shape)
        FloatConversion.convert(source, dtype: dtype, step: dtype.bitWidth / 8, into: out.data, count: count)
        return out
    }

    /// The error for a tensor whose dtype is not floating point.
    static func unreadable(_ name: String, _ dtype: SafetensorsDType, file: String) -> MMAttnError {
        MMAttnError("tensor \"\(name)\" has dtype \(dtype.rawValue), which cannot be read as floating-point weights (supported: F32, F16, BF16, F64)", file: file)
    }
}
