/// GPT-2's byte-to-unicode map: every byte stands for a printable character, so byte-level
/// vocabularies are written as text. Printable Latin-1 bytes map to themselves, the other 68 to
/// U+0100 onwards in byte order.
enum ByteLevel {
    static let characters: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Character(Unicode.Scalar(UInt8(b)))
            } else {
                table[b] = Character(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return table
    }()

    /// Scalar value to byte, for the 256 characters of the map.
    static let bytesByScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, c) in characters.enumerated() { map[c.unicodeScalars.first!.value] = UInt8(b) }
        return map
    }()

    static func character(_ byte: UInt8) -> Character { characters[Int(byte)] }

    /// The bytes a byte-level token stands for, or nil when a character is outside the map.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = bytesByScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}

/// GPT-2's pre-tokenization pattern,
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// as a hand-written scanner with the regex's exact leftmost-first semantics.
enum GPT2Split {
    static let pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// Append the byte ranges of the pieces of `bytes[range]` (valid UTF-8) to `pieces`.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let start = i
            let (c, _) = UTF8Scan.scalar(bytes, i)
            // Contractions: 's 't 'm 'd and 're 've 'll (ASCII apostrophe, lower case).
            if c == "'" && i + 1 < end {
                let n1 = bytes[i + 1]
                if n1 == UInt8(ascii: "s") || n1 == UInt8(ascii: "t") || n1 == UInt8(ascii: "m") || n1 == UInt8(ascii: "d") {
                    pieces.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < end {
                    let n2 = bytes[i + 2]
                    if (n1 == UInt8(ascii: "r") && n2 == UInt8(ascii: "e")) || (n1 == UInt8(ascii: "v") && n2 == UInt8(ascii: "e"))
                        || (n1 == UInt8(ascii: "l") && n2 == UInt8(ascii: "l")) {
                        pieces.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // An optional space, then a run of one class.
            var j = i
            var k = UnicodeClass.kind(c)
            if c == " " && i + 1 < end {
                let (c2, _) = UTF8Scan.scalar(bytes, i + 1)
                let k2 = UnicodeClass.kind(c2)
                if k2 != .space { j = i + 1; k = k2 }
            }
            if k != .space {
                var p = j
                while p < end {
                    let (s, l) = UTF8Scan.scalar(bytes, p)
                    if UnicodeClass.kind(s) != k { break }
                    p += l
                }
                pieces.append(start..<p); i = p; continue
            }
            // Whitespace: the run, minus its last character when a non-space follows (\s+(?!\S)),
            // unless the run is one character long (\s+).
            var p = i, last = i
            while p < end {
                let (s, l) = UTF8Scan.scalar(bytes, p)
                if !UnicodeClass.isWhitespace(s) { break }
                last = p
                p += l
            }
            if p < end && last > i { p = last }
            pieces.append(start..<p)
            i = p
        }
    }
}
