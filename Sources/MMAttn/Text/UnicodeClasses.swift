/// The character classes tokenizers split and filter on, as Hugging Face `tokenizers` defines them
/// (Rust's `char` predicates and Oniguruma's `\s`, `\p{L}`, `\p{N}`), with ASCII answered from a table.
enum UnicodeClass {
    /// The classes the split scanners (GPT-2's, Qwen2's and Llama 3's patterns) tell apart.
    enum Kind { case letter, number, space, other }

    /// `s` as \p{L}, \p{N}, \s or anything else, in that order.
    @inline(__always) static func kind(_ s: Unicode.Scalar) -> Kind {
        if isLetter(s) { return .letter }
        if isNumber(s) { return .number }
        if isWhitespace(s) { return .space }
        return .other
    }

    // ASCII is answered by comparisons: a lookup table would be a lazily initialised global, and
    // its initialisation check (`swift_once`) on every character costs more than the test itself.

    @inline(__always) private static func isASCIILetter(_ v: UInt32) -> Bool { (v | 0x20) &- 0x61 < 26 }
    @inline(__always) private static func isASCIIDigit(_ v: UInt32) -> Bool { v &- 0x30 < 10 }

    /// `\p{L}`: Lu, Ll, Lt, Lm, Lo.
    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return isASCIILetter(s.value) }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}` and Rust's `char::is_numeric`: Nd, Nl, No.
    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return isASCIIDigit(s.value) }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s` and Rust's `char::is_whitespace`: the White_Space property.
    @inline(__always) static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return s.value == 0x20 || s.value &- 0x09 < 5 }
        return s.properties.isWhitespace
    }

    /// BERT's punctuation: ASCII punctuation (which includes symbols such as `$` and `^`) or any P* category.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 {
            let v = s.value
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// BERT's control characters: the C* categories that are assigned (Cc, Cf, Co, Cs), except tab, newline and return.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// Nonspacing marks (Mn), which accent stripping removes after NFD.
    static func isNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        s.value >= 0x300 && s.properties.generalCategory == .nonspacingMark
    }

    /// Combining marks (Mn, Mc, Me), which the StripAccents normalizer removes.
    static func isMark(_ s: Unicode.Scalar) -> Bool {
        guard s.value >= 0x300 else { return false }
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// The CJK ideograph blocks BERT surrounds with spaces.
    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    /// Rust regex's `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
    static func isWord(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 { return isASCIILetter(s.value) || isASCIIDigit(s.value) || s == "_" }
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// Decoding UTF-8 one scalar at a time from a validated buffer.
enum UTF8Scan {
    /// The scalar starting at `i` and its length in bytes. `bytes` must be valid UTF-8.
    @inline(__always) static func scalar(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int) {
        let b0 = UInt32(bytes[i])
        if b0 < 0x80 { return (Unicode.Scalar(UInt8(b0)), 1) }
        if b0 < 0xE0 {
            return (Unicode.Scalar((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))!, 2)
        }
        if b0 < 0xF0 {
            let v = (b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)
            return (Unicode.Scalar(v)!, 3)
        }
        let v = (b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F)
        return (Unicode.Scalar(v)!, 4)
    }

    /// Byte length of the scalar that starts with byte `b`.
    @inline(__always) static func length(_ b: UInt8) -> Int {
        b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
    }
}

extension String {
    /// `prefix` as the first bytes (not the first characters: `"##ि".hasPrefix("##")` is false,
    /// since the second `#` and the vowel sign form one character).
    func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// The text after the first `prefix.utf8.count` bytes.
    func droppingBytePrefix(_ prefix: String) -> String {
        String(decoding: utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }
}
