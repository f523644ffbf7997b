import Foundation

/// A `pytorch_model.bin` (or any `torch.save` of a state_dict), mapped read-only: the zip format
/// torch writes since 1.6 (`archive/data.pkl` + one stored entry per storage) and the older
/// sequential format (five pickles followed by the raw storages). The pickle is read by
/// `PickleReader`, which runs nothing; tensors are views of storages (offset, sizes, strides,
/// shared storages) and are read on request like safetensors: a contiguous, aligned F32 tensor is
/// a view of the mapping, others are gathered and converted (F16, BF16, F64) to F32.
final class TorchWeightsFile: Sendable {
    struct Entry: Sendable {
        let dtype: SafetensorsDType
        let shape: [Int]    // sizes, outermost first
        let strides: [Int]  // in elements
        /// File offset of the tensor's first element (storage start + offset · element size).
        let byteOffset: Int
        var elementCount: Int { shape.reduce(1, *) }
        var byteCount: Int { elementCount * dtype.bitWidth / 8 }
    }

    let path: String
    /// Tensor names in pickle order.
    let names: [String]
    let entries: [String: Entry]
    private let mapping: FileMapping

    /// Map and index `path`; throws `MMAttnError` naming it for anything but a torch state_dict.
    init(path: String) throws {
        self.path = path
        mapping = try FileMapping(readOnly: path, what: "PyTorch weights file")
        let bytes = UnsafeRawBufferPointer(start: mapping.base, count: mapping.length)
        if SafetensorsFile.isGitLFSPointer(bytes) {
            throw MMAttnError("Git LFS pointer, not the weights: run git lfs pull", file: path)
        }
        let parsed: (names: [String], entries: [String: Entry])
        if ZipArchive.looksLikeZip(bytes) {
            parsed = try Self.readZip(bytes, file: path)
        } else if bytes.first == 0x80 {
            parsed = try Self.readLegacy(bytes, file: path)
        } else {
            throw MMAttnError("not a PyTorch weights file (neither the zip archive torch.save writes nor its older pickle format)", file: path)
        }
        (names, entries) = parsed
    }

    /// A storage named by a persistent id: element type, archive key, element count.
    private struct Storage {
        let dtype: SafetensorsDType
        let key: String
        let count: Int
    }

    /// Run the state_dict pickle at `start`, collecting storages; returns the name → tensor list.
    private static func readStateDict(_ reader: PickleReader, from start: Int, legacy: Bool)
        throws -> (tensors: [(String, PickleReader.TensorRef)], storages: [Storage], end: Int) {
        var storages: [Storage] = []
        var byKey: [String: Int] = [:]
        func fail(_ m: String) -> MMAttnError { MMAttnError("\(reader.what): \(m)", file: reader.file) }
        let (value, end) = try reader.read(from: start) { id in
            guard case .tuple(let t, _) = id, t.count == (legacy ? 6 : 5), case .string("storage") = t[0],
                  case .global(.storageType(let dtype, _)) = t[1], case .string(let key) = t[2], case .int(let count) = t[4], count >= 0 else {
                throw fail("a persistent id is \(id.kindName), not ('storage', <torch storage type>, key, location, element count)")
            }
            if legacy {
                guard case .none = t[5] else {
                    throw fail("storage \(key) is a view of another storage (torch before 0.4); load and re-save it with a recent torch")
                }
            }
            if let i = byKey[key] {
                guard storages[i].dtype == dtype, storages[i].count == count else {
                    throw fail("storage \(key) is named with two different types or sizes: the pickle is damaged")
                }
                return .storage(i)
            }
            byKey[key] = storages.count
            storages.append(Storage(dtype: dtype, key: key, count: count))
            return .storage(storages.count - 1)
        }
        guard case .dict(let dict) = value else {
            throw fail("the pickle holds \(value.kindName), not a state_dict (a dict of tensor names to tensors)")
        }
        var tensors: [(String, PickleReader.TensorRef)] = []
        tensors.reserveCapacity(dict.items.count)
        for (key, item) in dict.items {
            guard case .string(let name) = key else { throw fail("a state_dict key is \(key.kindName), not a tensor name") }
            guard case .tensor(let ref) = item else {
                throw fail("entry \"\(name)\" is \(item.kindName), not a tensor: expected a plain state_dict (save model.state_dict(), not a training checkpoint holding one)")
            }
            tensors.append((name, ref))
        }
        return (tensors, storages, end)
    }

    /// Check every tensor's view against its storage (whose data starts at `storageStarts[i]`).
    private static func index(_ tensors: [(String, PickleReader.TensorRef)], _ storages: [Storage], storageStarts: [Int],
                              file: String) throws -> (names: [String], entries: [String: Entry]) {
        var entries: [String: Entry] = [:]
        var names: [String] = []
        for (name, t) in tensors {
            let storage = storages[t.storage]
            func fail(_ m: String) -> MMAttnError { MMAttnError("tensor \"\(name)\": \(m)", file: file) }
            var count = 1, last = t.offset  // last: the highest element index the view reads
            for (size, stride) in zip(t.shape, t.strides) {
                let (c, o1) = count.multipliedReportingOverflow(by: size)
                let (span, o2) = (max(size, 1) - 1).multipliedReportingOverflow(by: stride)
                let (l, o3) = last.addingReportingOverflow(span)
                guard !o1, !o2, !o3 else { throw fail("shape \(t.shape) with strides \(t.strides) overflows 64-bit sizes") }
                (count, last) = (c, l)
            }
            // Checked for empty views too: the offset becomes a byte position below.
            guard t.offset <= storage.count else {
                throw fail("starts at element \(t.offset), past the end of its storage \(storage.key) (\(storage.count) elements): the file is damaged")
            }
            if count > 0 {
                guard last < storage.count else {
                    throw fail("shape \(t.shape), strides \(t.strides) at offset \(t.offset) reach element \(last), but its storage \(storage.key) holds \(storage.count) elements: the file is damaged")
                }
                guard count <= storage.count else {
                    throw fail("shape \(t.shape) has \(count) elements, more than its storage \(storage.key) holds (\(storage.count)): a broadcast view, which a weights file does not use")
                }
            }
            guard entries[name] == nil else { throw MMAttnError("tensor \"\(name)\" appears twice in the state_dict: the file is damaged", file: file) }
            entries[name] = Entry(dtype: storage.dtype, shape: t.shape, strides: t.strides,
                                  byteOffset: storageStarts[t.storage] + t.offset * storage.dtype.bitWidth / 8)
            names.append(name)
        }
        return (names, entries)
    }

    /// Bytes `count` elements of `dtype` take, or an error when that overflows or passes `available`.
    private static func storageBytes(_ s: Storage, available: Int, file: String) throws -> Int {
        let (bytes, overflow) = s.count.multipliedReportingOverflow(by: s.dtype.bitWidth / 8)
        guard !overflow, bytes <= available else {
            throw MMAttnError("storage \(s.key) claims \(s.count) elements of \(s.dtype.rawValue), more than the \(available) bytes the file holds for it: the file is truncated or damaged", file: file)
        }
        return bytes
    }

    private static func readZip(_ bytes: UnsafeRawBufferPointer, file: String) throws -> (names: [String], entries: [String: Entry]) {
        let zip = try ZipArchive(bytes, file: file)
        let pickles = zip.entries.filter { $0.name.hasSuffix("/data.pkl") && $0.name.dropLast(9).allSatisfy { $0 != "/" } }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw MMAttnError(pickles.isEmpty ? "a zip archive without <name>/data.pkl: not a file torch.save wrote"
                              : "the zip archive holds \(pickles.count) data.pkl entries: not a file torch.save wrote", file: file)
        }
        let prefix = String(pickle.name.dropLast(8))  // "archive/"
        if let order = zip.entry(prefix + "byteorder") {
            let range = try zip.storedRange(order, file: file)
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            guard text == "little" else {
                throw MMAttnError("the weights were saved on a \(text)-endian machine: load and re-save them with torch on a little-endian one", file: file)
            }
        }
        let range = try zip.storedRange(pickle, file: file)
        let pickleBytes = UnsafeRawBufferPointer(rebasing: bytes[range])
        guard ZipArchive.crc32(pickleBytes) == pickle.crc32 else {
            throw MMAttnError("\(pickle.name) fails its zip checksum: the file is damaged; download it again", file: file)
        }
        let reader = PickleReader(bytes: pickleBytes, file: file, what: pickle.name)
        let (tensors, storages, end) = try readStateDict(reader, from: 0, legacy: false)
        guard end == pickleBytes.count else {
            throw MMAttnError("\(pickle.name) has \(pickleBytes.count - end) bytes after the end of its pickle: the file is damaged", file: file)
        }
        let starts = try storages.map { s -> Int in
            guard let entry = zip.entry(prefix + "data/" + s.key) else {
                throw MMAttnError("the pickle names storage \(s.key), but the archive has no entry \(prefix)data/\(s.key): the file is damaged", file: file)
            }
            let range = try zip.storedRange(entry, file: file)
            _ = try storageBytes(s, available: range.count, file: file)
            return range.lowerBound
        }
        return try index(tensors, storages, storageStarts: starts, file: file)
    }

    /// The format before torch 1.6: pickles of the magic number, the protocol version (1001) and
    /// the system info, then the state_dict, then the list of storage keys, then each storage in
    /// that order as an 8-byte element count and its raw bytes.
    private static func readLegacy(_ bytes: UnsafeRawBufferPointer, file: String) throws -> (names: [String], entries: [String: Entry]) {
        let reader = PickleReader(bytes: bytes, file: file, what: "torch.save pickle")
        let none: (PickleReader.Value) throws -> PickleReader.Value = { _ in
            throw MMAttnError("a persistent id before the state_dict: not a torch.save file", file: file)
        }
        let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]  // 0x1950a86a20f9469cfc6c
        let notTorch = "not a PyTorch weights file (a pickle, but not one torch.save wrote; its first value is not torch's magic number)"
        let first = try reader.read(from: 0, persistentLoad: none)
        guard case .bigInt(let m) = first.value, m == magic else { throw MMAttnError(notTorch, file: file) }
        let version = try reader.read(from: first.end, persistentLoad: none)
        guard case .int(1001) = version.value else {
            throw MMAttnError("the torch.save protocol version is \(version.value.kindName), not 1001: a format mmattn does not read; re-save the weights with a recent torch", file: file)
        }
        let info = try reader.read(from: version.end, persistentLoad: none)
        if case .dict(let d) = info.value {
            for (k, v) in d.items {
                if case .string("little_endian") = k, case .bool(false) = v {
                    throw MMAttnError("the weights were saved on a big-endian machine: load and re-save them with torch on a little-endian one", file: file)
                }
            }
        }
        let (tensors, storages, end) = try readStateDict(reader, from: info.end, legacy: true)
        let keys = try reader.read(from: end, persistentLoad: none)
        guard case .list(let list) = keys.value else {
            throw MMAttnError("the list of storage keys after the state_dict is missing: the file is truncated or damaged", file: file)
        }
        let byKey = Dictionary(storages.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        var starts = [Int](repeating: -1, count: storages.count)
        var p = keys.end
        for item in list.items {
            guard case .string(let key) = item, let i = byKey[key] else {
                throw MMAttnError("the storage list names \(item.kindName) that no tensor uses: the file is damaged", file: file)
            }
            guard p <= bytes.count - 8 else {
                throw MMAttnError("the file ends before storage \(key): it is truncated; download it again", file: file)
            }
            let stored = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: p, as: Int64.self))
            guard stored == Int64(storages[i].count) else {
                throw MMAttnError("storage \(key) holds \(stored) elements but the state_dict says \(storages[i].count): the file is damaged", file: file)
            }
            p += 8
            starts[i] = p
            p += try storageBytes(storages[i], available: bytes.count - p, file: file)
        }
        if let missing = starts.firstIndex(of: -1) {
            throw MMAttnError("storage \(storages[missing].key) is used by a tensor but not stored in the file: it is damaged", file: file)
        }
        return try index(tensors, storages, storageStarts: starts, file: file)
    }

    /// Tensor `name` as `Float` (F32, F16, BF16, F64); a view of the mapping when it is contiguous,
    /// F32 and aligned, else a converted copy.
    func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw MMAttnError("missing tensor \"\(name)\"", file: path) }
        // Empty: nothing to read, whatever the other sizes (their product may not fit 64 bits).
        if e.elementCount == 0 { return Tensor(uninitialized: e.shape) }
        var expected = 1
        var contiguous = true
        for (size, stride) in zip(e.shape, e.strides).reversed() where size != 1 {
            if stride != expected { contiguous = false }
            expected *= size  // no overflow: the product of the sizes is the element count, checked at open
        }
        if contiguous { return try mapping.floats(at: e.byteOffset, dtype: e.dtype, shape: e.shape, name: name, file: path) }
        guard e.dtype.isReadableAsFloat else { throw FileMapping.unreadable(name, e.dtype, file: path) }
        // Strided: walk all but the last axis with an odometer, convert each row.
        let out = Tensor(uninitialized: e.shape)
        let source = mapping.base + e.byteOffset
        let width = e.dtype.bitWidth / 8
        let rank = e.shape.count
        let rowLength = e.shape[rank - 1], rowStep = e.strides[rank - 1] * width
        var position = [Int](repeating: 0, count: rank - 1)
        var written = 0
        while written < e.elementCount {
            var element = 0
            for axis in 0..<(rank - 1) { element += position[axis] * e.strides[axis] }
            FloatConversion.convert(source + element * width, dtype: e.dtype, step: rowStep, into: out.data + written, count: rowLength)
            written += rowLength
            var axis = rank - 2
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < e.shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
        return out
    }
}
