import Foundation

/// Writes named F32 tensors as a `.safetensors` file in the standard layout: compact header JSON
/// (`__metadata__` first, then the tensors in name order) padded with spaces to a multiple of 8,
/// then the tensors' bytes back to back in the same order.
public enum SafetensorsWriter {
    /// The file's bytes. Names are ordered by their UTF-8 bytes, as the reference writer orders them.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String]? = nil) throws -> Data {
        let (header, ordered) = try layout(tensors, metadata: metadata)
        var data = header
        for (_, t) in ordered { data.append(UnsafeBufferPointer(start: t.pointer, count: t.count)) }
        return data
    }

    /// Write the file atomically: it appears at `path` only once complete. The tensors' values go
    /// to the file straight from memory.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil, to path: String) throws {
        let (header, ordered): (Data, [(key: String, value: Tensor)])
        do { (header, ordered) = try layout(tensors, metadata: metadata) } catch { throw error.attributed(to: path) }
        try AtomicFile.write(to: path) { sink in
            try sink.write(header)
            for (_, t) in ordered {
                try withExtendedLifetime(t) { try sink.write(UnsafeRawBufferPointer(start: t.pointer, count: t.count * 4)) }
            }
        }
    }

    /// The length-prefixed header and the tensors in the order their bytes follow it.
    static func layout(_ tensors: [String: Tensor], metadata: [String: String]?) throws -> (Data, [(key: String, value: Tensor)]) {
        let ordered = tensors.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        var offset: Int64 = 0
        let entries = ordered.map { (name, t) -> (String, [Int], Int64) in
            defer { offset += Int64(t.count * MemoryLayout<Float>.size) }
            return (name, t.shape, offset)
        }
        return (try header(entries, metadata: metadata), ordered)
    }

    /// The length-prefixed header (padded with spaces to a multiple of 8) of F32 tensors given as
    /// (name, shape, offset of their bytes after the header), listed in the given order.
    static func header(_ entries: [(name: String, shape: [Int], offset: Int64)], metadata: [String: String]?) throws -> Data {
        var header = "{"
        if let metadata {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            header += "\"__metadata__\":{"
            header += pairs.map { "\(JSON.quote($0.key)):\(JSON.quote($0.value))" }.joined(separator: ",")
            header += "}"
            if !entries.isEmpty { header += "," }
        }
        var parts: [String] = []
        parts.reserveCapacity(entries.count)
        for (name, shape, offset) in entries {
            if name == "__metadata__" {
                throw MMAttnError("a tensor cannot be named \"__metadata__\" in a safetensors file (the name is reserved)")
            }
            let bytes = Int64(shape.reduce(1, *) * MemoryLayout<Float>.size)
            let dims = shape.map(String.init).joined(separator: ",")
            parts.append("\(JSON.quote(name)):{\"dtype\":\"F32\",\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        var data = Data(capacity: 8 + headerBytes.count)
        var n = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &n) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        return data
    }
}
