import Foundation

/// The entries of a zip archive held in memory (a mapped file), as `torch.save` writes them since
/// torch 1.6: stored (uncompressed) entries, with zip64 records for archives or entries past 4 GB.
/// Only the central directory is read; an entry's bytes are located, never copied. Compressed or
/// encrypted entries are refused when they are asked for.
struct ZipArchive {
    struct Entry {
        let name: String
        /// Byte offset of the entry's data in the archive.
        let dataOffset: Int
        /// Bytes of data (stored entries: compressed size = uncompressed size).
        let size: Int
        /// Compression method (0 = stored) and general-purpose flags (bit 0 = encrypted).
        let method: Int
        let flags: Int
        let crc32: UInt32
    }

    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    /// Whether `bytes` start like a zip archive (a local file header).
    static func looksLikeZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self).littleEndian == 0x0403_4b50
    }

    /// Read the central directory of the archive in `bytes`; errors name `file`.
    init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        func fail(_ message: String) -> MMAttnError { MMAttnError(message, file: file) }
        let size = bytes.count
        func u16(_ at: Int) -> Int { Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        func u64(_ at: Int) throws -> Int {
            let v = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            guard v <= UInt64(Int.max) else { throw fail("a zip64 size or offset field says \(v): the archive is damaged") }
            return Int(v)
        }

        // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535 bytes.
        let truncated = "the file ends before the zip archive's central directory (the end record was not found): the download is truncated or the file is damaged; download it again"
        guard size >= 22 else { throw fail(truncated) }
        var end = -1
        var candidate = size - 22
        while candidate >= max(0, size - 22 - 65_535) {
            if u32(candidate) == 0x0605_4b50 && candidate + 22 + u16(candidate + 20) == size {
                end = candidate
                break
            }
            candidate -= 1
        }
        guard end >= 0 else { throw fail(truncated) }
        var count = u16(end + 10)
        var directorySize = u32(end + 12)
        var directoryOffset = u32(end + 16)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // Zip64: a locator just before the end record points at the zip64 end record.
            guard end >= 20, u32(end - 20) == 0x0706_4b50 else {
                throw fail("the zip archive needs zip64 records (it is over 4 GB or has over 65,535 entries) but has no zip64 locator: the file is damaged")
            }
            let record = try u64(end - 20 + 8)
            guard record <= end - 20 - 56, u32(record) == 0x0606_4b50 else {
                throw fail("the zip64 end record is not where its locator says (byte \(record)): the file is damaged")
            }
            count = try u64(record + 32)
            directorySize = try u64(record + 40)
            directoryOffset = try u64(record + 48)
        }
        guard directoryOffset <= end, directorySize <= end - directoryOffset else {
            throw fail("the zip central directory (\(directorySize) bytes at byte \(directoryOffset)) lies outside the file (\(size) bytes): the file is truncated or damaged")
        }
        guard count <= directorySize / 46 else {
            throw fail("the zip archive claims \(count) entries, more than its \(directorySize)-byte central directory can hold: the file is damaged")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var index: [String: Int] = [:]
        var p = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for n in 0..<count {
            guard p + 46 <= directoryEnd, u32(p) == 0x0201_4b50 else {
                throw fail("zip central directory entry \(n) is damaged (no entry signature at byte \(p))")
            }
            let flags = u16(p + 8), method = u16(p + 10), crc = UInt32(u32(p + 16))
            var compressed = u32(p + 20), uncompressed = u32(p + 24)
            let nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32)
            var localOffset = u32(p + 42)
            let next = p + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw fail("zip central directory entry \(n) runs past the directory: the file is damaged") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(p + 46)..<(p + 46 + nameLength)]), as: UTF8.self)
            // The zip64 extra field holds, in this order, the fields whose 32-bit value is 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = u16(e), length = u16(e + 2)
                guard e + 4 + length <= extraEnd else { break }
                if id == 0x0001 {
                    var f = e + 4
                    func field() throws -> Int {
                        guard f + 8 <= e + 4 + length else { throw fail("the zip64 field of entry \(name) is too short: the file is damaged") }
                        defer { f += 8 }
                        return try u64(f)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try field() }
                    if compressed == 0xFFFF_FFFF { compressed = try field() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try field() }
                }
                e += 4 + length
            }
            // The data follows the local header, whose name and extra field may differ in length.
            guard localOffset <= size - 30, u32(localOffset) == 0x0403_4b50 else {
                throw fail("zip entry \(name): its local header (byte \(localOffset)) is missing or outside the file: the file is truncated or damaged")
            }
            let dataOffset = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28)
            let stored = method == 0 ? uncompressed : compressed
            guard dataOffset <= size, stored <= size - dataOffset else {
                throw fail("zip entry \(name) (\(stored) bytes at byte \(dataOffset)) runs past the end of the file (\(size) bytes): the file is truncated; download it again")
            }
            if method == 0 && compressed != uncompressed {
                throw fail("zip entry \(name) is stored but its compressed and uncompressed sizes differ (\(compressed), \(uncompressed)): the file is damaged")
            }
            index[name] = entries.count
            entries.append(Entry(name: name, dataOffset: dataOffset, size: stored, method: method, flags: flags, crc32: crc))
            p = next
        }
        self.entries = entries
        self.index = index
    }

    func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The data range of a stored, unencrypted entry; errors say why others cannot be read.
    func storedRange(_ entry: Entry, file: String) throws -> Range<Int> {
        guard entry.flags & 1 == 0 else {
            throw MMAttnError("zip entry \(entry.name) is encrypted: torch.save never encrypts; re-save the weights with torch.save", file: file)
        }
        guard entry.method == 0 else {
            throw MMAttnError("zip entry \(entry.name) is compressed (method \(entry.method)); torch.save stores entries uncompressed, so the archive was rewritten by another tool: re-save it with torch.save, or unzip and re-zip it with `zip -0`", file: file)
        }
        return entry.dataOffset..<(entry.dataOffset + entry.size)
    }

    /// CRC-32 (ISO-HDLC, as zip uses) of `bytes`.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return ~crc
    }

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}
