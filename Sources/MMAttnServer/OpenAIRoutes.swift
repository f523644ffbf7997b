import Foundation
import Hummingbird
import MMAttn

/// OpenAI's embeddings API: `POST /v1/embeddings` and `GET /v1/models`.
struct OpenAIRoutes {
    let state: ServerState

    func add(to router: Router<BasicRequestContext>) {
        router.post("/v1/embeddings") { request, _ in try await embeddings(request) }
        router.get("/v1/models") { _, _ in try models() }
    }

    /// `{"input": str | [str] | [int] | [[int]], "model": str, "encoding_format": "float" | "base64",
    /// "dimensions": int?, "user": str?}` → `{"object": "list", "data": [{"object": "embedding",
    /// "index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}`.
    ///
    /// Vectors are L2-normalized, as OpenAI's are (and TEI's on this route).
    func embeddings(_ request: Request) async throws -> Response {
        let body = try await RequestBodies.jsonObject(request, limit: state.limits.payloadBytes)
        let (textRequest, name, base64) = try TextEmbeddingRequest.openAI(body, autoTruncate: state.limits.autoTruncate)
        let (model, service) = try state.model(named: name, kind: "text") { $0.text }
        let (vectors, tokens) = try await service.embed(textRequest, limits: state.limits)
        var out = "{\"object\":\"list\",\"data\":["
        out.reserveCapacity(vectors.count * (vectors.first?.count ?? 0) * 12 + 200)
        for (i, v) in vectors.enumerated() {
            if i > 0 { out.append(",") }
            out.append("{\"object\":\"embedding\",\"index\":\(i),\"embedding\":")
            if base64 { out.append(JSON.quote(VectorJSON.base64(v))) } else { VectorJSON.append(v, to: &out) }
            out.append("}")
        }
        out.append("],\"model\":\(JSON.quote(model.spec.name)),\"usage\":{\"prompt_tokens\":\(tokens),\"total_tokens\":\(tokens)}}")
        return .json(out)
    }

    /// Every served model: `{"object": "list", "data": [{"id", "object": "model", "created",
    /// "owned_by"}]}`, with what each serves under `"mmattn"`.
    func models() throws -> Response {
        let items = try state.models().map { m in
            "{\"id\":\(JSON.quote(m.spec.name)),\"object\":\"model\",\"created\":\(state.started),\"owned_by\":\"mmattn\","
                + "\"mmattn\":{\"source\":\(JSON.quote(m.spec.source)),\"family\":\(JSON.quote(m.family.rawValue)),"
                + "\"serves\":[\(m.kinds.map(JSON.quote).joined(separator: ","))]}}"
        }
        return .json("{\"object\":\"list\",\"data\":[" + items.joined(separator: ",") + "]}")
    }
}
