import Foundation
import Hummingbird
import MMAttn

/// Hugging Face text-embeddings-inference's routes, for the first text model served:
/// `POST /embed` (and `POST /`), `POST /tokenize`, `GET /info`, `GET /health` (and `/`, `/ping`),
/// and `GET /metrics`.
struct TEIRoutes {
    let state: ServerState

    func add(to router: Router<BasicRequestContext>) {
        // POST / is TEI's route for clients that post to the base URL (huggingface_hub's
        // InferenceClient); GET / and /ping are its health checks, as /health.
        for path in ["/embed", "/"] { router.post(RouterPath(path)) { request, _ in try await embed(request) } }
        router.post("/tokenize") { request, _ in try await tokenize(request) }
        router.get("/info") { _, _ in try info() }
        for path in ["/health", "/", "/ping"] {
            router.get(RouterPath(path)) { _, _ in
                state.isReady ? Response(status: .ok) : APIStyle.tei.response(.unavailable("unhealthy"))
            }
        }
        router.get("/metrics") { _, _ in
            Response.text(state.metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }

    /// A TEI embedding body (`TextEmbeddingRequest.init(tei:autoTruncate:)`) → `[[float]]`.
    func embed(_ request: Request) async throws -> Response {
        let body = try await RequestBodies.jsonObject(request, limit: state.limits.payloadBytes)
        let textRequest = try TextEmbeddingRequest(tei: body, autoTruncate: state.limits.autoTruncate)
        let (_, service) = try state.model(named: nil, kind: "text") { $0.text }
        let vectors = try await service.embed(textRequest, limits: state.limits).vectors
        var out = "["
        out.reserveCapacity(vectors.count * (vectors.first?.count ?? 0) * 12 + 2)
        for (i, v) in vectors.enumerated() {
            if i > 0 { out.append(",") }
            VectorJSON.append(v, to: &out)
        }
        out.append("]")
        return .json(out)
    }

    /// `{"inputs": str | [str], "add_special_tokens": bool = true, "prompt_name": str?}` →
    /// `[[{"id", "text", "special", "start", "stop"}]]` (the token's text as the vocabulary
    /// spells it; `start` and `stop` are null: the tokenizer keeps no offsets). The texts are
    /// prepared as `/embed` prepares them (prompt, lower-casing), never truncated.
    func tokenize(_ request: Request) async throws -> Response {
        let body = try await RequestBodies.jsonObject(request, limit: state.limits.payloadBytes)
        let (_, service) = try state.model(named: nil, kind: "text") { $0.text }
        let inputs = try TextInput.list(body["inputs"], field: "inputs")
        try state.limits.checkBatchSize(inputs.count)
        let texts = try inputs.map { input -> String in
            guard case .text(let text) = input else { throw ServeError.validation("`inputs` must be strings to tokenize, not token ids") }
            guard !text.isEmpty else { throw ServeError.empty("Input validation error: `inputs` cannot be empty") }
            return text
        }
        let special = try Field.bool(body, "add_special_tokens") ?? true
        let prepared: [String]
        do {
            prepared = try service.encoder.prepare(texts, options: TextEmbeddingOptions(promptName: try Field.string(body, "prompt_name")))
        } catch let error as MMAttnError {
            throw ServeError.validation(error.message)
        }
        let tokenizer = service.encoder.tokenizer
        let lists = tokenizer.encodeBatch(prepared, addSpecialTokens: special).map { e in
            let mask = e.specialTokensMask
            let items = e.ids.enumerated().map { i, id in
                "{\"id\":\(id),\"text\":\(JSON.quote(tokenizer.token(id) ?? "")),\"special\":\(mask[i]),\"start\":null,\"stop\":null}"
            }
            return "[" + items.joined(separator: ",") + "]"
        }
        return .json("[" + lists.joined(separator: ",") + "]")
    }

    /// TEI's `/info` for the text model `/embed` uses.
    func info() throws -> Response {
        let (model, service) = try state.model(named: nil, kind: "text") { $0.text }
        let limits = state.limits
        let pooling = service.pooling.map { $0 == .meanSqrtLength ? "mean_sqrt_len_tokens" : $0 == .last ? "last_token" : $0.rawValue }
        let fields: [(String, String)] = [
            ("model_id", JSON.quote(model.spec.source)),
            ("model_sha", "null"),
            ("model_dtype", JSON.quote(state.configuration.dtype == .bf16 && BF16.isAvailable ? "bfloat16" : "float32")),
            ("served_model_name", JSON.quote(model.spec.name)),
            ("model_type", "{\"embedding\":{\"pooling\":\(JSON.quote(pooling.joined(separator: "+")))}}"),
            ("max_concurrent_requests", String(limits.queueSize)),
            ("max_input_length", String(service.maxInputLength(limits))),
            ("max_batch_tokens", String(limits.batchTokens)),
            ("max_batch_requests", "null"),
            ("max_client_batch_size", String(limits.clientBatchSize)),
            ("auto_truncate", String(limits.autoTruncate)),
            ("tokenization_workers", String(Threads.defaultCount)),
            ("version", JSON.quote(MMAttnVersion.string)),
            ("sha", "null"),
            ("docker_label", "null"),
        ]
        return .json("{" + fields.map { "\(JSON.quote($0.0)):\($0.1)" }.joined(separator: ",") + "}")
    }
}

/// Optional fields of a JSON body, with 422 for a wrong type.
enum Field {
    static func bool(_ o: JSONObject, _ key: String) throws -> Bool? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let b = v.bool else { throw ServeError.validation("`\(key)` must be true or false, not \(v.kindName)") }
        return b
    }

    static func int(_ o: JSONObject, _ key: String) throws -> Int? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let i = v.int else { throw ServeError.validation("`\(key)` must be an integer, not \(v.kindName)") }
        return i
    }

    static func string(_ o: JSONObject, _ key: String) throws -> String? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let s = v.string else { throw ServeError.validation("`\(key)` must be a string, not \(v.kindName)") }
        return s
    }
}
