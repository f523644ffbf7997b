import Foundation

/// A text pattern of `tokenizers`' Replace and Split: a literal string or a regular expression
/// (Oniguruma syntax in the file; matched here with Swift's regex engine on Unicode scalars).
/// `Regex<AnyRegexOutput>` is not declared Sendable; the loader compiles it fully (one match on an
/// empty string) before any thread sees it, after which it is only read, so sharing it is safe.
enum TextPattern: @unchecked Sendable {
    case string(String)
    case regex(Regex<AnyRegexOutput>, source: String)

    /// Byte ranges of the non-overlapping matches in `text`, left to right.
    func matches(in text: String) -> [Range<Int>] {
        let utf8 = text.utf8
        func offset(_ i: String.Index) -> Int { utf8.distance(from: utf8.startIndex, to: i) }
        switch self {
        case .string(let s):
            guard !s.isEmpty else { return [] }
            var out: [Range<Int>] = []
            var from = text.startIndex
            while let r = text.range(of: s, options: .literal, range: from..<text.endIndex), !r.isEmpty {
                out.append(offset(r.lowerBound)..<offset(r.upperBound))
                from = r.upperBound
            }
            return out
        case .regex(let regex, _):
            return text.matches(of: regex).compactMap { m in
                m.range.isEmpty ? nil : offset(m.range.lowerBound)..<offset(m.range.upperBound)
            }
        }
    }

    /// `text` with every match replaced by `content`.
    func replacing(in text: String, with content: String) -> String {
        let ranges = matches(in: text)
        guard !ranges.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var last = 0
        for r in ranges {
            out.append(contentsOf: bytes[last..<r.lowerBound])
            out.append(contentsOf: content.utf8)
            last = r.upperBound
        }
        out.append(contentsOf: bytes[last...])
        return String(decoding: out, as: UTF8.self)
    }
}

/// The normalizers of `tokenizers`, applied to the text before pre-tokenization.
indirect enum Normalizer: Sendable {
    /// BERT's: drop control characters and turn whitespace into spaces, put spaces around CJK
    /// ideographs, strip accents (NFD, then drop nonspacing marks), lower-case.
    case bert(cleanText: Bool, chineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Drops combining marks (it does not decompose: files put NFD before it).
    case stripAccents
    case replace(TextPattern, String)
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case append(String)
    case sequence([Normalizer])

    /// What this normalizer does to ASCII text, or nil when that needs the general path
    /// (Replace, Strip, Prepend and Append). Decided once, when the tokenizer loads.
    var asciiForm: ASCIINormalization? {
        switch self {
        case .nfc, .nfd, .nfkc, .nfkd, .stripAccents:
            return ASCIINormalization(clean: false, lowercase: false)
        case .lowercase:
            return ASCIINormalization(clean: false, lowercase: true)
        case .bert(let clean, _, _, let lower):
            return ASCIINormalization(clean: clean, lowercase: lower)
        case .sequence(let all):
            var form = ASCIINormalization(clean: false, lowercase: false)
            for n in all {
                guard let f = n.asciiForm else { return nil }
                form.clean = form.clean || f.clean
                form.lowercase = form.lowercase || f.lowercase
            }
            return form
        case .replace, .strip, .prepend, .append:
            return nil
        }
    }

    func apply(_ text: String) -> String {
        switch self {
        case .bert(let clean, let chinese, let strip, let lower):
            var s = text
            if clean || chinese {
                var v = String.UnicodeScalarView()
                for c in text.unicodeScalars {
                    if clean {
                        if c.value == 0 || c.value == 0xFFFD || UnicodeClass.isControl(c) { continue }
                        if UnicodeClass.isWhitespace(c) { v.append(" "); continue }
                    }
                    if chinese && UnicodeClass.isCJK(c) {
                        v.append(" "); v.append(c); v.append(" ")
                    } else {
                        v.append(c)
                    }
                }
                s = String(v)
            }
            if strip {
                var v = String.UnicodeScalarView()
                for c in s.decomposedStringWithCanonicalMapping.unicodeScalars where !UnicodeClass.isNonspacingMark(c) { v.append(c) }
                s = String(v)
            }
            if lower { s = Normalizer.lowercase.apply(s) }
            return s
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            var v = String.UnicodeScalarView()
            for c in text.unicodeScalars {
                if c.value < 128 {
                    v.append(c >= "A" && c <= "Z" ? Unicode.Scalar(c.value + 32)! : c)
                } else {
                    v.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return String(v)
        case .stripAccents:
            var v = String.UnicodeScalarView()
            for c in text.unicodeScalars where !UnicodeClass.isMark(c) { v.append(c) }
            return String(v)
        case .replace(let pattern, let content):
            return pattern.replacing(in: text, with: content)
        case .strip(let left, let right):
            let scalars = Array(text.unicodeScalars)
            var a = 0, b = scalars.count
            if left { while a < b && UnicodeClass.isWhitespace(scalars[a]) { a += 1 } }
            if right { while b > a && UnicodeClass.isWhitespace(scalars[b - 1]) { b -= 1 } }
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[a..<b])
            return String(v)
        case .prepend(let p): return text.isEmpty ? text : p + text
        case .append(let p): return text.isEmpty ? text : text + p
        case .sequence(let all): return all.reduce(text) { $1.apply($0) }
        }
    }
}

/// A normalizer's effect on ASCII text, applied to the bytes without going through `String`. On
/// ASCII the two steps commute and repeat without change, so a sequence reduces to these flags.
struct ASCIINormalization: Sendable {
    /// BERT's clean-up: controls (C0 and DEL, but tab, newline and return) go; those three become spaces.
    var clean: Bool
    var lowercase: Bool

    var isIdentity: Bool { !clean && !lowercase }

    func apply(_ bytes: inout [UInt8]) {
        if clean {
            bytes.removeAll { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D) || $0 == 0x7F }
            for i in bytes.indices where bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { bytes[i] = 0x20 }
        }
        if lowercase { for i in bytes.indices where bytes[i] >= 0x41 && bytes[i] <= 0x5A { bytes[i] += 32 } }
    }
}
