import Foundation
import Hummingbird
import MMAttn

/// Why a request failed, independent of the API that answers it; `APIStyle` renders it as that
/// API's error body.
enum ServeError: Error, Sendable {
    /// The body cannot be read: not JSON, a broken form, no file (400).
    case badRequest(String)
    /// An empty input list or input (400, TEI's `Empty`).
    case empty(String)
    /// Valid JSON of the wrong shape, an input too long, too many inputs (422).
    case validation(String)
    /// No served model of that name or kind (404).
    case modelNotFound(String)
    /// No such route (404).
    case notFound(String)
    /// A route that does not take the request's method (405).
    case methodNotAllowed(String)
    /// The body is larger than the limit (413).
    case tooLarge(String)
    /// The model's queue is full (429, with Retry-After).
    case overloaded
    /// Waited in the queue longer than the request timeout (503).
    case timedOut(Duration)
    /// Models still loading, or shutting down (503).
    case unavailable(String)
    /// Missing or wrong API key (401).
    case unauthorized
    /// The library refused an input: a malformed PNG, WAV or FASTA, an invalid residue (422).
    case model(MMAttnError)
    /// Anything else: the server's fault (500).
    case `internal`(String)

    var status: HTTPResponse.Status {
        switch self {
        case .badRequest, .empty: return .badRequest
        case .validation, .model: return .unprocessableContent
        case .modelNotFound, .notFound: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .tooLarge: return .contentTooLarge
        case .overloaded: return .tooManyRequests
        case .timedOut, .unavailable: return .serviceUnavailable
        case .unauthorized: return .unauthorized
        case .internal: return .internalServerError
        }
    }

    var message: String {
        switch self {
        case .badRequest(let m), .empty(let m), .validation(let m), .modelNotFound(let m), .notFound(let m), .methodNotAllowed(let m),
             .tooLarge(let m), .unavailable(let m): return m
        case .overloaded: return "Model is overloaded: too many requests are waiting; retry after the Retry-After seconds"
        case .timedOut(let d):
            return "the request waited more than \(String(format: "%g", d.seconds)) s for the model; retry later or raise --request-timeout"
        case .unauthorized: return "missing or wrong API key: send the header \"Authorization: Bearer <key>\""
        case .model(let e): return e.description
        case .internal(let m): return "the server failed: \(m)"
        }
    }

    /// TEI's `error_type` (PascalCase, as TEI serializes it).
    var teiType: String {
        switch self {
        case .empty: return "Empty"
        case .badRequest, .validation, .tooLarge, .modelNotFound, .model: return "Validation"
        case .notFound, .methodNotAllowed: return "NotFound"
        case .overloaded: return "Overloaded"
        case .timedOut, .unavailable: return "Unhealthy"
        case .unauthorized: return "Unauthorized"
        case .internal: return "Backend"
        }
    }

    /// OpenAI's `error.type` and `error.code`.
    var openAI: (type: String, code: String?) {
        switch self {
        case .badRequest, .empty, .validation, .model, .notFound, .methodNotAllowed: return ("invalid_request_error", nil)
        case .tooLarge: return ("invalid_request_error", "payload_too_large")
        case .modelNotFound: return ("invalid_request_error", "model_not_found")
        case .overloaded: return ("requests", "rate_limit_exceeded")
        case .timedOut, .unavailable: return ("server_error", "service_unavailable")
        case .unauthorized: return ("invalid_request_error", "invalid_api_key")
        case .internal: return ("server_error", nil)
        }
    }
}

/// The error body conventions of the APIs the server speaks.
enum APIStyle: Sendable {
    /// TEI: `{"error": str, "error_type": str}`.
    case tei
    /// OpenAI (and the server's other `/v1` routes): `{"error": {"message", "type", "param", "code"}}`.
    case openAI

    func response(_ error: ServeError) -> Response {
        let body: String
        switch self {
        case .tei:
            body = "{\"error\":\(JSON.quote(error.message)),\"error_type\":\(JSON.quote(error.teiType))}"
        case .openAI:
            let (type, code) = error.openAI
            body = "{\"error\":{\"message\":\(JSON.quote(error.message)),\"type\":\(JSON.quote(type)),\"param\":null,\"code\":"
                + (code.map(JSON.quote) ?? "null") + "}}"
        }
        var response = Response.json(body, status: error.status)
        if case .overloaded = error { response.headers[.retryAfter] = "1" }
        return response
    }
}

extension Response {
    /// A JSON body (already serialized).
    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A plain-text body.
    static func text(_ text: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
