import Foundation

/// Open-addressing hash tables for the tokenizer's hot loops: lookups by a byte string or a pair
/// of ids without allocating, hashing or comparing through `String`.

/// A fast hash of `n` bytes, for tables of trusted keys (a vocabulary). It has no secret, so
/// colliding inputs can be built: keys that come from requests or input files use `keyedHash`.
@inline(__always) func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf29ce484222325 ^ UInt64(n)
    var i = 0
    while i + 8 <= n {
        h = (h ^ UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)) &* 0x100000001b3
        h ^= h >> 29
        i += 8
    }
    while i < n { h = (h ^ UInt64(p[i])) &* 0x100000001b3; i += 1 }
    return h ^ (h >> 32)
}

/// SipHash of `n` bytes with the process's random key (Swift's `Hasher`): collisions cannot be
/// built from outside, so tables of keys from input files or requests stay linear.
func keyedHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var hasher = Hasher()
    hasher.combine(bytes: UnsafeRawBufferPointer(start: p, count: n))
    return UInt64(bitPattern: Int64(hasher.finalize()))
}

/// `keyedHash` of a byte array.
func keyedHash(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { keyedHash($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
}

/// Byte strings (UTF-8 token texts) to 32-bit values. Keys live in one arena; insertion only.
/// `keyed` tables hash with `keyedHash`, for keys that come from input (the BPE word cache).
struct ByteTable: Sendable {
    private struct Slot { var hash: UInt64; var start: Int32; var length: Int32; var value: Int32 }
    private var slots: [Slot]
    private var arena: [UInt8] = []
    private var mask: Int
    private(set) var count = 0
    private let keyed: Bool

    @inline(__always) private func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        keyed ? keyedHash(p, n) : hashBytes(p, n)
    }

    init(capacity: Int, keyed: Bool = false) {
        self.keyed = keyed
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Slot(hash: 0, start: 0, length: -1, value: 0), count: size)
        mask = size - 1
    }

    /// Insert unless present; returns false when the key was already there (the first value stays).
    @discardableResult
    mutating func insert(_ key: some Collection<UInt8>, _ value: Int32) -> Bool {
        let bytes = Array(key)
        if count * 2 >= slots.count { grow() }
        let h = bytes.withUnsafeBufferPointer { hash($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i].length >= 0 {
            if slots[i].hash == h && equal(slots[i], bytes) { return false }
            i = (i + 1) & mask
        }
        slots[i] = Slot(hash: h, start: Int32(arena.count), length: Int32(bytes.count), value: value)
        arena.append(contentsOf: bytes)
        count += 1
        return true
    }

    private func equal(_ s: Slot, _ bytes: [UInt8]) -> Bool {
        Int(s.length) == bytes.count && arena[Int(s.start)..<(Int(s.start) + bytes.count)].elementsEqual(bytes)
    }

    private mutating func grow() {
        let old = slots.filter { $0.length >= 0 }
        slots = Array(repeating: Slot(hash: 0, start: 0, length: -1, value: 0), count: slots.count * 2)
        mask = slots.count - 1
        for s in old {
            var i = Int(truncatingIfNeeded: s.hash) & mask
            while slots[i].length >= 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    /// The value stored for the `n` bytes at `p`.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        let h = hash(p, n)
        var i = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { s in
            arena.withUnsafeBufferPointer { a in
                while s[i].length >= 0 {
                    if s[i].hash == h && Int(s[i].length) == n && (n == 0 || memcmp(a.baseAddress! + Int(s[i].start), p, n) == 0) {
                        return s[i].value
                    }
                    i = (i + 1) & mask
                }
                return nil
            }
        }
    }

    func find(_ key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { find($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
    }
}

/// BPE merges: (left id, right id) to (rank, merged id).
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: Self.empty, count: size)
        values = Array(repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always) private func slot(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E3779B97F4A7C15) >> 20) & mask
    }

    /// Insert unless present (the first, lowest-ranked merge of a pair wins).
    mutating func insert(_ a: Int32, _ b: Int32, rank: Int32, merged: Int32) {
        let k = Self.key(a, b)
        var i = slot(k)
        while keys[i] != Self.empty {
            if keys[i] == k { return }
            i = (i + 1) & mask
        }
        keys[i] = k
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// (rank, merged id) of the pair, or nil when the pair never merges.
    @inline(__always) func find(_ a: Int32, _ b: Int32) -> (rank: Int32, merged: Int32)? {
        let k = Self.key(a, b)
        var i = slot(k)
        return keys.withUnsafeBufferPointer { kp in
            while kp[i] != Self.empty {
                if kp[i] == k {
                    let v = values[i]
                    return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
                }
                i = (i + 1) & mask
            }
            return nil
        }
    }
}
