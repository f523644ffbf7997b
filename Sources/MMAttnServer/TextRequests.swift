import Foundation
import MMAttn

/// One input of a text embedding request: a text, or token ids the model sees as they are.
package enum TextInput: Sendable {
    case text(String)
    case ids([Int32])

    /// TEI's `inputs` and OpenAI's `input`: a string, a list of token ids (one input), or a list
    /// of strings and id lists.
    static func list(_ json: JSON?, field: String) throws -> [TextInput] {
        guard let json, !json.isNull else { throw ServeError.validation("missing field `\(field)`") }
        if let text = json.string { return [.text(text)] }
        guard let items = json.array else {
            throw ServeError.validation("`\(field)` must be a string or a list of strings or token ids, not \(json.kindName)")
        }
        guard !items.isEmpty else { throw ServeError.empty("`\(field)` cannot be empty") }
        if items.allSatisfy({ $0.int != nil }) { return [.ids(try ids(items, field: field))] }
        return try items.enumerated().map { i, item in
            if let text = item.string { return .text(text) }
            if let list = item.array { return .ids(try ids(list, field: "\(field)[\(i)]")) }
            throw ServeError.validation("`\(field)[\(i)]` must be a string or a list of token ids, not \(item.kindName)")
        }
    }

    private static func ids(_ items: [JSON], field: String) throws -> [Int32] {
        try items.enumerated().map { j, item in
            guard let id = item.int, let small = Int32(exactly: id) else {
                throw ServeError.validation("`\(field)[\(j)]` must be a token id (an integer), not \(item.kindName)")
            }
            return small
        }
    }
}

/// A text embedding request, in the terms both APIs share.
package struct TextEmbeddingRequest: Sendable {
    var inputs: [TextInput]
    /// Cut inputs longer than the model's limit (else they are a 422).
    var truncate: Bool
    var normalize: Bool
    /// Keep the first `dimensions` values (then normalize them, when `normalize`).
    var dimensions: Int?
    /// A prompt of the sentence-transformers folder, by name.
    var promptName: String?

    init(inputs: [TextInput], truncate: Bool, normalize: Bool, dimensions: Int?, promptName: String?) {
        (self.inputs, self.truncate, self.normalize, self.dimensions, self.promptName) = (inputs, truncate, normalize, dimensions, promptName)
    }

    /// TEI's `/embed` body: `{"inputs": str | [str] | [int] | [[int]], "normalize": bool = true,
    /// "truncate": bool?, "truncation_direction": "right", "prompt_name": str?, "dimensions": int?}`;
    /// `truncate` defaults to `autoTruncate`.
    package init(tei body: JSONObject, autoTruncate: Bool) throws {
        if let direction = try Field.string(body, "truncation_direction"), direction.lowercased() != "right" {
            throw ServeError.validation("truncation_direction \"\(direction)\" is not supported: texts are cut at the right")
        }
        self.init(inputs: try TextInput.list(body["inputs"], field: "inputs"),
                  truncate: try Field.bool(body, "truncate") ?? autoTruncate,
                  normalize: try Field.bool(body, "normalize") ?? true,
                  dimensions: try Field.int(body, "dimensions"),
                  promptName: try Field.string(body, "prompt_name"))
    }

    /// OpenAI's `/v1/embeddings` body: `{"input": str | [str] | [int] | [[int]], "model": str?,
    /// "encoding_format": "float" | "base64", "dimensions": int?, "user": str?}`; vectors are
    /// always normalized, inputs cut when `autoTruncate`. Also gives the model named and whether
    /// vectors go out as base64.
    package static func openAI(_ body: JSONObject, autoTruncate: Bool) throws -> (request: TextEmbeddingRequest, model: String?, base64: Bool) {
        let model = try Field.string(body, "model")
        let format = try Field.string(body, "encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw ServeError.validation("`encoding_format` must be \"float\" or \"base64\", not \"\(format)\"")
        }
        let request = TextEmbeddingRequest(inputs: try TextInput.list(body["input"], field: "input"), truncate: autoTruncate,
                                           normalize: true, dimensions: try Field.int(body, "dimensions"), promptName: nil)
        return (request, model, format == "base64")
    }
}

extension TextService {
    /// Tokenize and check `request` (TEI's limits and messages), wait for its batch, and give
    /// each input's vector and the tokens used.
    func embed(_ request: TextEmbeddingRequest, limits: ServerLimits) async throws -> (vectors: [[Float]], tokens: Int) {
        try limits.checkBatchSize(request.inputs.count)
        let width = dimension
        if let d = request.dimensions {
            guard d > 0 else { throw ServeError.validation("`dimensions` should be positive") }
            guard d <= width else { throw ServeError.validation("`dimensions` should be smaller than the maximum embedding dimension (\(width))") }
        }
        let encodings = try encode(request.inputs, truncate: request.truncate, promptName: request.promptName, limits: limits)
        let cut = request.dimensions.map { $0 < width } ?? false
        let job = Job(encodings: encodings, normalize: request.normalize && !cut)
        let tensors = try await queue.submit(job, cost: encodings.reduce(0) { $0 + $1.ids.count })
        let vectors = tensors.map { tensor -> [Float] in
            guard cut, let d = request.dimensions else { return tensor.values }
            let prefix = Tensor(shape: [d], values: Array(tensor.values.prefix(d)))
            return (request.normalize ? TextEncoder.normalized(prefix) : prefix).values
        }
        return (vectors, encodings.reduce(0) { $0 + $1.ids.count })
    }

    /// The most tokens one input may have: the model's limit, at most one batch's budget (as TEI
    /// caps `max_input_length` at `max_batch_tokens`).
    func maxInputLength(_ limits: ServerLimits) -> Int {
        min(encoder.lengthLimit(TextEmbeddingOptions()).tokens, limits.batchTokens)
    }

    /// The token sequences of `inputs`: texts through the folder's tokenizer (and prompt), ids as
    /// they are; checked against the limits.
    func encode(_ inputs: [TextInput], truncate: Bool, promptName: String?, limits: ServerLimits) throws -> [Encoding] {
        let limit = maxInputLength(limits)
        let options = TextEmbeddingOptions(maxLength: limit, promptName: promptName)
        let texts = inputs.compactMap { if case .text(let t) = $0 { return t } else { return nil } }
        if texts.contains(where: \.isEmpty) { throw ServeError.empty("Input validation error: `inputs` cannot be empty") }
        let prepared: [String]
        do {
            prepared = try encoder.prepare(texts, options: options)
        } catch let error as MMAttnError {
            throw ServeError.validation(error.message)
        }
        let encoded = encoder.tokenizer.encodeBatch(prepared, maxLength: limit)
        var out: [Encoding] = [], next = 0
        for input in inputs {
            var e: Encoding
            switch input {
            case .text:
                e = encoded[next]
                if e.truncated && !truncate {
                    let given = encoder.tokenizer.encode(prepared[next]).ids.count
                    throw ServeError.validation("Input validation error: `inputs` must have less than \(limit) tokens. Given: \(given)")
                }
                next += 1
            case .ids(let ids):
                let vocabulary = encoder.model.vocabSize
                if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
                    throw ServeError.validation("token id \(bad) is outside the model's vocabulary of \(vocabulary)")
                }
                guard ids.count <= limit || truncate else {
                    throw ServeError.validation("Input validation error: `inputs` must have less than \(limit) tokens. Given: \(ids.count)")
                }
                e = Encoding(ids: Array(ids.prefix(limit)))
            }
            guard !e.ids.isEmpty else {
                throw ServeError.empty("Input validation error: `inputs` cannot be empty (input \(out.count) has no tokens)")
            }
            out.append(e)
        }
        return out
    }
}

/// JSON text of float vectors, written without intermediate strings per vector.
enum VectorJSON {
    /// `[v0,v1,...]` with each Float in its shortest exact form.
    static func append(_ values: [Float], to out: inout String) {
        out.append("[")
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            out.append(JSONNumber.format(v))
        }
        out.append("]")
    }

    /// The vector's little-endian float32 bytes in base64 (OpenAI's `encoding_format: "base64"`).
    static func base64(_ values: [Float]) -> String {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        return data.base64EncodedString()
    }
}
