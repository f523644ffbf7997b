import Foundation

/// A parsed JSON value. The parser is strict (RFC 8259: no NaN, no trailing commas, no comments),
/// bounds nesting depth so hostile files cannot overflow the stack, and keeps each number's source
/// text so integers are read exactly (`1e20` or `32.5` is not silently an `Int`).
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    /// Nesting deeper than this is rejected; real configs and tokenizers nest fewer than 10 levels.
    public static let maxDepth = 256

    /// Parse `bytes` as one JSON document.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSON {
        var parser = JSONParser(bytes: bytes.bindMemory(to: UInt8.self))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.index != parser.bytes.count { throw parser.failure("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ data: Data) throws -> JSON {
        try data.withUnsafeBytes { try parse($0) }
    }

    /// Largest JSON file read (tokenizer.json files of big vocabularies reach tens of MB).
    public static let maxFileBytes = 512 << 20

    /// Read and parse a file; errors name the file.
    public static func load(contentsOf path: String) throws -> JSON {
        let data = try FileBytes.read(path, limit: maxFileBytes) { size in
            MMAttnError("the file is \(size >> 20) MB, more than any configuration needs (limit \(maxFileBytes >> 20) MB): is it the right file?", file: path)
        }
        do { return try parse(data) } catch { throw MMAttnError("not valid JSON: \(error)", file: path) }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest as UTF-8.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public var object: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    /// The value as an exact integer: a JSON number with no fraction or exponent that fits in `Int`.
    public var int: Int? {
        guard case .number(let text) = self else { return nil }
        return Int(text)
    }

    /// The value as a finite `Double`.
    public var double: Double? {
        guard case .number(let text) = self, let d = Double(text), d.isFinite else { return nil }
        return d
    }

    /// A short name of the value's kind for error messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number(let t): return "the number \(t)"
        case .string(let s): return "the string \"\(s.prefix(40))\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A JSON object: its keys in file order and a dictionary for lookup. Duplicate keys are rejected.
public struct JSONObject: Sendable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: JSON] = [:]

    public subscript(key: String) -> JSON? { values[key] }

    mutating func insert(_ key: String, _ value: JSON) -> Bool {
        if values[key] != nil { return false }
        keys.append(key)
        values[key] = value
        return true
    }
}

/// Typed access to the fields of a configuration object, with errors that name the file and the key.
public struct JSONFields: Sendable {
    public let object: JSONObject
    /// The file the object came from, for error messages.
    public let file: String

    public init(_ json: JSON, file: String) throws {
        guard let o = json.object else { throw MMAttnError("expected a JSON object at the top level, found \(json.kindName)", file: file) }
        self.object = o
        self.file = file
    }

    public init(object: JSONObject, file: String) {
        self.object = object
        self.file = file
    }

    public static func load(_ path: String) throws -> JSONFields {
        try JSONFields(JSON.load(contentsOf: path), file: path)
    }

    public func has(_ key: String) -> Bool { object[key].map { !$0.isNull } ?? false }

    private func wrong(_ key: String, _ expected: String, _ found: JSON) -> MMAttnError {
        MMAttnError("\"\(key)\" must be \(expected), found \(found.kindName)", file: file)
    }

    /// The first of `keys` that is present (configs of different families name the same thing differently).
    private func first(_ keys: [String]) -> (String, JSON)? {
        for k in keys { if let v = object[k], !v.isNull { return (k, v) } }
        return nil
    }

    /// A required integer in `range`.
    public func int(_ keys: String..., in range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        guard let (k, v) = first(keys) else {
            throw MMAttnError("missing \"\(keys[0])\": the file does not look like a complete configuration", file: file)
        }
        return try checkedInt(k, v, range)
    }

    /// An optional integer in `range`, `default` when absent.
    public func int(_ keys: String..., default value: Int, in range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        guard let (k, v) = first(keys) else { return value }
        return try checkedInt(k, v, range)
    }

    private func checkedInt(_ k: String, _ v: JSON, _ range: ClosedRange<Int>) throws -> Int {
        guard let i = v.int else { throw wrong(k, "an integer", v) }
        guard range.contains(i) else {
            throw MMAttnError("\"\(k)\" is \(i), outside the accepted range \(range.lowerBound)...\(range.upperBound)", file: file)
        }
        return i
    }

    /// An optional finite number, `default` when absent.
    public func double(_ keys: String..., default value: Double) throws -> Double {
        guard let (k, v) = first(keys) else { return value }
        guard let d = v.double else { throw wrong(k, "a finite number", v) }
        return d
    }

    public func string(_ keys: String...) throws -> String? {
        guard let (k, v) = first(keys) else { return nil }
        guard let s = v.string else { throw wrong(k, "a string", v) }
        return s
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = object[key], !v.isNull else { return value }
        guard let b = v.bool else { throw wrong(key, "true or false", v) }
        return b
    }

    /// An optional list of finite numbers, checked to have `count` entries when given.
    public func doubles(_ key: String, count: Int? = nil) throws -> [Double]? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let a = v.array else { throw wrong(key, "a list of numbers", v) }
        var out: [Double] = []
        for e in a {
            guard let d = e.double else { throw wrong(key, "a list of numbers", e) }
            out.append(d)
        }
        if let count, out.count != count {
            throw MMAttnError("\"\(key)\" must have \(count) values, found \(out.count)", file: file)
        }
        return out
    }

    public func fields(_ key: String) throws -> JSONFields? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let o = v.object else { throw wrong(key, "an object", v) }
        return JSONFields(object: o, file: file)
    }
}

/// A byte-level recursive-descent parser. Depth is bounded by `JSON.maxDepth`.
struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func failure(_ what: String) -> MMAttnError {
        MMAttnError("\(what) at byte \(index)")
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSON {
        guard depth < JSON.maxDepth else { throw failure("nesting deeper than \(JSON.maxDepth) levels") }
        guard index < bytes.count else { throw failure("unexpected end of data") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw failure("unexpected character '\(printable(bytes[index]))'")
        }
    }

    private func printable(_ b: UInt8) -> String {
        (0x20..<0x7F).contains(b) ? String(UnicodeScalar(b)) : String(format: "\\x%02X", b)
    }

    mutating func expectWord(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard index + n <= bytes.count,
              memcmp(bytes.baseAddress! + index, word.utf8Start, n) == 0 else { throw failure("invalid literal") }
        index += n
    }

    mutating func parseObject(depth: Int) throws -> JSON {
        index += 1
        var object = JSONObject()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            guard object.insert(key, value) else { throw failure("duplicate key \"\(key)\"") }
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of data in an object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            throw failure("expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSON {
        index += 1
        var array: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw failure("unexpected end of data in an array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
            throw failure("expected ',' or ']'")
        }
    }

    mutating func parseNumber() throws -> JSON {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.index
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) { p.index += 1 }
            return p.index - s
        }
        let intStart = index
        let n = digits(&self)
        guard n > 0 else { throw failure("invalid number") }
        if n > 1, bytes[intStart] == UInt8(ascii: "0") { throw failure("invalid number (leading zero)") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("invalid number") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("invalid number") }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
    }

    mutating func parseString() throws -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                guard let s = String(validating: raw, as: UTF8.self) else { throw failure("string is not valid UTF-8") }
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw failure("control character in a string") }
            index += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw failure("string is not valid UTF-8") }
                return s
            }
            if b < 0x20 { throw failure("control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard index < bytes.count else { break }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw failure("unpaired surrogate in \\u escape")
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw failure("unpaired surrogate in \\u escape")
                }
                out.append(contentsOf: String(Character(UnicodeScalar(scalar)!)).utf8)
            default: throw failure("invalid escape")
            }
        }
        throw failure("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }
}
