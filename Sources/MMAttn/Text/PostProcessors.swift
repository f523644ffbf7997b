/// One element of a `TemplateProcessing` template.
enum TemplatePiece: Sendable {
    /// A special token (its ids from the template's `special_tokens`).
    case special([Int32], typeId: Int32)
    /// The first (A) or second (B) sequence.
    case sequence(second: Bool, typeId: Int32)
}

/// The post-processors of `tokenizers`: they wrap the model's ids in special tokens.
indirect enum PostProcessor: Sendable {
    case template(single: [TemplatePiece], pair: [TemplatePiece])
    /// `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, type ids 0 then 1.
    case bert(cls: Int32, sep: Int32)
    /// `<s> A </s>` and `<s> A </s></s> B </s>`, all type ids 0.
    case roberta(cls: Int32, sep: Int32)
    /// Offsets only: ids unchanged.
    case byteLevel
    case sequence([PostProcessor])

    /// How many ids `process` adds.
    func addedCount(pair: Bool) -> Int {
        switch self {
        case .template(let single, let pairTemplate):
            return (pair ? pairTemplate : single).reduce(0) { n, p in if case .special(let ids, _) = p { return n + ids.count }; return n }
        case .bert: return pair ? 3 : 2
        case .roberta: return pair ? 4 : 2
        case .byteLevel: return 0
        case .sequence(let all): return all.reduce(0) { $0 + $1.addedCount(pair: pair) }
        }
    }

    /// The final encoding of the model's ids for A (and B).
    func process(_ a: [Int32], _ b: [Int32]?) -> Encoding {
        switch self {
        case .template(let single, let pair):
            var e = Encoding(capacity: a.count + (b?.count ?? 0) + addedCount(pair: b != nil))
            for piece in (b == nil ? single : pair) {
                switch piece {
                case .special(let ids, let type): e.append(ids, type: type, special: true)
                case .sequence(let second, let type): e.append(second ? (b ?? []) : a, type: type, special: false)
                }
            }
            return e
        case .bert(let cls, let sep):
            var e = Encoding(capacity: a.count + (b?.count ?? 0) + 3)
            e.append([cls], type: 0, special: true); e.append(a, type: 0, special: false); e.append([sep], type: 0, special: true)
            if let b { e.append(b, type: 1, special: false); e.append([sep], type: 1, special: true) }
            return e
        case .roberta(let cls, let sep):
            var e = Encoding(capacity: a.count + (b?.count ?? 0) + 4)
            e.append([cls], type: 0, special: true); e.append(a, type: 0, special: false); e.append([sep], type: 0, special: true)
            if let b { e.append([sep], type: 0, special: true); e.append(b, type: 0, special: false); e.append([sep], type: 0, special: true) }
            return e
        case .byteLevel:
            return Encoding.plain(a, b)
        case .sequence(let all):
            // Only template-like processors add ids; the first that does decides the layout.
            for p in all where p.addedCount(pair: b != nil) > 0 { return p.process(a, b) }
            return Encoding.plain(a, b)
        }
    }
}

/// Token ids with their segment (type) ids, as a model reads them.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int32] = []
    /// Per token: the type id (low 6 bits), 0x40 for a special token, 0x80 for padding. One small
    /// array instead of three keeps a batch's allocations, and so its threads' contention, low.
    private var flags: [UInt8] = []
    /// Whether truncation removed tokens.
    public var truncated = false

    private static let special: UInt8 = 0x40, padding: UInt8 = 0x80, typeMask: UInt8 = 0x3F
    /// The largest type id a template may give (far above the 0 and 1 that models use).
    static let maxTypeId = 63

    public init() {}

    /// Token ids as they are: no special tokens added, all of type 0.
    public init(ids: [Int32]) {
        self = Self.plain(ids, nil)
    }

    init(capacity: Int) {
        ids.reserveCapacity(capacity)
        flags.reserveCapacity(capacity)
    }

    /// 0 for the first sequence, 1 for the second (BERT's token_type_ids).
    public var typeIds: [Int32] { flags.map { Int32($0 & Self.typeMask) } }
    /// True where the post-processor added a special token (or padding).
    public var specialTokensMask: [Bool] { flags.map { $0 & (Self.special | Self.padding) != 0 } }
    /// 1 for real tokens, 0 for padding (`Tokenizer.pad`).
    public var attentionMask: [Int32] { flags.map { $0 & Self.padding != 0 ? 0 : 1 } }

    mutating func append(_ more: [Int32], type: Int32, special: Bool) {
        ids += more
        let flag = UInt8(truncatingIfNeeded: type) & Self.typeMask | (special ? Self.special : 0)
        flags += repeatElement(flag, count: more.count)
    }

    /// Append `count` padding tokens.
    mutating func appendPadding(_ id: Int32, count: Int) {
        ids += repeatElement(id, count: count)
        flags += repeatElement(Self.padding, count: count)
    }

    /// A and B side by side without special tokens.
    static func plain(_ a: [Int32], _ b: [Int32]?) -> Encoding {
        guard let b else {
            var e = Encoding()
            e.ids = a
            e.flags = [UInt8](repeating: 0, count: a.count)
            return e
        }
        var e = Encoding(capacity: a.count + b.count)
        e.append(a, type: 0, special: false)
        e.append(b, type: 1, special: false)
        return e
    }
}
