import Foundation

/// NumPy `.npy` files (format 1.0), little-endian, C order.
public enum NPY {
    /// Encode a float32 tensor as `.npy` bytes (`<f4`, C order).
    public static func encode(_ tensor: Tensor) -> Data {
        var data = header(shape: tensor.shape)
        data.append(Data(bytes: tensor.pointer, count: tensor.count * 4))
        return data
    }

    /// Write a float32 tensor as a `.npy` file, atomically, its values straight from memory (a
    /// tensor of gigabytes is not copied first).
    public static func write(_ tensor: Tensor, to path: String) throws {
        try AtomicFile.write(to: path) { sink in
            try sink.write(header(shape: tensor.shape))
            try withExtendedLifetime(tensor) {
                try sink.write(UnsafeRawBufferPointer(start: tensor.pointer, count: tensor.count * 4))
            }
        }
    }

    /// The magic, version and header of a `<f4` C-order array of `shape`.
    static func header(shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        return data
    }

    /// Decode `.npy` bytes holding `<f4`, `<f8`, `|u1`, `<i4` or `<i8` data into a float tensor.
    /// Used for reference outputs in tests and for inputs people hand to the library.
    public static func decode(_ data: Data, file: String = "<npy>") throws -> Tensor {
        let (descr, shape, start) = try parse(data, file: file)
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let (m, o) = acc.0.multipliedReportingOverflow(by: d)
            return (m, acc.1 || o)
        }
        let width: Int
        switch descr {
        case "<f4", "<i4": width = 4
        case "<f8", "<i8": width = 8
        case "|u1", "|b1", "<u1": width = 1
        default: throw MMAttnError("unsupported .npy dtype \(descr)", file: file)
        }
        guard !overflow, count <= (data.count - start) / width, data.count - start == count * width else {
            throw MMAttnError(".npy data size does not match its shape \(shape)", file: file)
        }
        let out = Tensor(zeros: shape)
        data.withUnsafeBytes { raw in
            let p = raw.baseAddress! + start
            for i in 0..<count {
                switch descr {
                case "<f4": out.data[i] = p.loadUnaligned(fromByteOffset: i * 4, as: Float.self)
                case "<i4": out.data[i] = Float(p.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
                case "<f8": out.data[i] = Float(p.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
                case "<i8": out.data[i] = Float(p.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                default: out.data[i] = Float(p.load(fromByteOffset: i, as: UInt8.self))
                }
            }
        }
        return out
    }

    /// The shape and data offset of `<f4` C-order `.npy` bytes (at least the whole header).
    static func parseHeader(_ data: Data, file: String) throws -> (shape: [Int], dataStart: Int) {
        let (descr, shape, start) = try parse(data, file: file)
        guard descr == "<f4" else { throw MMAttnError("holds \(descr) data, not float32 (<f4)", file: file) }
        return (shape, start)
    }

    /// The dtype, shape and data offset from a `.npy` header (Fortran order is refused).
    private static func parse(_ data: Data, file: String) throws -> (descr: String, shape: [Int], dataStart: Int) {
        guard data.count >= 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
            throw MMAttnError("not a NumPy .npy file (bad magic)", file: file)
        }
        let major = data[data.startIndex + 6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(data[data.startIndex + 8]) | Int(data[data.startIndex + 9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard data.count >= 12 else { throw MMAttnError("truncated .npy header", file: file) }
            headerLength = (0..<4).reduce(0) { $0 | Int(data[data.startIndex + 8 + $1]) << (8 * $1) }
            headerStart = 12
        } else {
            throw MMAttnError("unsupported .npy version \(major)", file: file)
        }
        guard headerStart + headerLength <= data.count else { throw MMAttnError("truncated .npy header", file: file) }
        let header = String(decoding: data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)], as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let q1 = descrField.firstIndex(of: "'"),
              let q2 = descrField[descrField.index(after: q1)...].firstIndex(of: "'") else {
            throw MMAttnError("missing 'descr' in .npy header", file: file)
        }
        let descr = String(descrField[descrField.index(after: q1)..<q2])
        if let f = field("fortran_order"), f.hasPrefix("True") { throw MMAttnError("Fortran-order .npy is not supported", file: file) }
        guard let s = field("shape"), let open = s.firstIndex(of: "("), let close = s[open...].firstIndex(of: ")") else {
            throw MMAttnError("missing 'shape' in .npy header", file: file)
        }
        var shape: [Int] = []
        for part in s[s.index(after: open)..<close].split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let d = Int(t), d >= 0 else { throw MMAttnError("bad shape in .npy header", file: file) }
            shape.append(d)
        }
        return (descr, shape, headerStart + headerLength)
    }

    /// Read a `.npy` file (a regular file; its size is the only bound, as embeddings of large runs
    /// are large: memory is the file plus its values as f32).
    public static func read(_ path: String) throws -> Tensor {
        try decode(FileBytes.read(path, limit: .max) { _ in MMAttnError("cannot read the file", file: path) }, file: path)
    }
}
