import CHubHash

/// Incremental SHA-256 (FIPS 180-4): feed bytes as they arrive with `update`, read the digest with
/// `finish`. Verifies LFS blobs, whose Hub etag is their SHA-256.
public struct SHA256: Sendable {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var block = BlockBuffer()
    private var portable = false

    public init() {}

    /// A hash on the portable C code even where the CPU has SHA instructions (for tests).
    init(portable: Bool) { self.portable = portable }

    /// Hash more bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        block.feed(bytes) { SHA256.compress(&state, $0, $1, portable: portable) }
    }

    /// The digest as 64 lowercase hex digits (the hash cannot be updated afterwards).
    public mutating func finish() -> String {
        block.pad { SHA256.compress(&state, $0, $1, portable: portable) }
        let words = [state.0, state.1, state.2, state.3, state.4, state.5, state.6, state.7]
        return hex(words)
    }

    private static func compress(_ s: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
                                 _ p: UnsafeRawPointer, _ count: Int, portable: Bool) {
        withUnsafeMutableBytes(of: &s) { words in
            let state = words.baseAddress!.assumingMemoryBound(to: UInt32.self), data = p.assumingMemoryBound(to: UInt8.self)
            if portable { hubhash_sha256_blocks_portable(state, data, count) } else { hubhash_sha256_blocks(state, data, count) }
        }
    }
}

/// Incremental SHA-1, for the git blob ids (`sha1("blob <size>\0" + bytes)`) the Hub gives regular
/// (non-LFS) files as their etag. Not a security check on its own; it catches corrupted transfers.
public struct SHA1: Sendable {
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    private var block = BlockBuffer()

    public init() {}

    /// The hash of a git blob of `size` bytes, to be followed by exactly those bytes.
    public static func gitBlob(size: Int) -> SHA1 {
        var h = SHA1()
        Array("blob \(size)\0".utf8).withUnsafeBytes { h.update($0) }
        return h
    }

    /// Hash more bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        block.feed(bytes) { SHA1.compress(&state, $0, $1) }
    }

    /// The digest as 40 lowercase hex digits (the hash cannot be updated afterwards).
    public mutating func finish() -> String {
        block.pad { SHA1.compress(&state, $0, $1) }
        return hex([state.0, state.1, state.2, state.3, state.4])
    }

    private static func compress(_ s: inout (UInt32, UInt32, UInt32, UInt32, UInt32), _ p: UnsafeRawPointer, _ count: Int) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            var (h0, h1, h2, h3, h4) = s
            for blockIndex in 0..<count {
                let src = p + blockIndex * 64
                for i in 0..<16 { w[i] = UInt32(bigEndian: src.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)) }
                for i in 16..<80 { w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotl(1) }
                var a = h0, b = h1, c = h2, d = h3, e = h4
                for i in 0..<80 {
                    let f: UInt32, k: UInt32
                    switch i {
                    case 0..<20: f = (b & c) | (~b & d); k = 0x5A827999
                    case 20..<40: f = b ^ c ^ d; k = 0x6ED9EBA1
                    case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC
                    default: f = b ^ c ^ d; k = 0xCA62C1D6
                    }
                    let t = a.rotl(5) &+ f &+ e &+ k &+ w[i]
                    e = d; d = c; c = b.rotl(30); b = a; a = t
                }
                h0 = h0 &+ a; h1 = h1 &+ b; h2 = h2 &+ c; h3 = h3 &+ d; h4 = h4 &+ e
            }
            s = (h0, h1, h2, h3, h4)
        }
    }
}

/// The 64-byte block buffer and message padding SHA-1 and SHA-256 share: whole blocks go straight
/// from the caller's bytes to the compression function, only a tail is copied.
private struct BlockBuffer: Sendable {
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ compress: (UnsafeRawPointer, Int) -> Void) {
        guard var p = bytes.baseAddress, !bytes.isEmpty else { return }
        var n = bytes.count
        length &+= UInt64(n)
        if !pending.isEmpty {
            let take = min(64 - pending.count, n)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: p, count: take))
            p += take; n -= take
            if pending.count < 64 { return }
            pending.withUnsafeBytes { compress($0.baseAddress!, 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = n / 64
        if blocks > 0 { compress(p, blocks) }
        if n % 64 > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(start: p + blocks * 64, count: n % 64)) }
    }

    /// Append the 0x80 marker, zeros and the message length in bits (big-endian), compressing the rest.
    mutating func pad(_ compress: (UnsafeRawPointer, Int) -> Void) {
        let bits = length &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        tail.withUnsafeBytes { compress($0.baseAddress!, tail.count / 64) }
        pending = []
    }
}

private func hex(_ words: [UInt32]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(words.count * 8)
    for w in words {
        for shift in stride(from: 28, through: 0, by: -4) { out.append(digits[Int((w >> UInt32(shift)) & 15)]) }
    }
    return String(decoding: out, as: UTF8.self)
}

extension UInt32 {
    @inline(__always) fileprivate func rotl(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
}
