import Foundation
import Hummingbird
import MMAttn

/// In front of every route: the API key, the request metrics, and JSON errors in the style of the
/// API a path belongs to (unknown paths included).
struct Gate: RouterMiddleware {
    typealias Context = BasicRequestContext
    let state: ServerState

    /// Routes that need no key, as in TEI: probes and scrapers.
    static let open: Set<String> = ["/health", "/ping", "/metrics"]

    /// The routes, as metric labels (anything else is "unmatched", so clients cannot grow the label set).
    static let routes: Set<String> = [
        "/", "/embed", "/tokenize", "/info", "/health", "/ping", "/metrics", "/v1/embeddings", "/v1/models", "/v1/images/classify",
        "/v1/images/embeddings", "/v1/audio/embeddings", "/v1/audio/classify", "/v1/audio/transcriptions",
        "/v1/proteins/embeddings"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let arrived = ContinuousClock.now
        let path = request.uri.path
        let style = APIStyle(path: path)
        var response: Response
        if let key = state.configuration.apiKey, !Self.open.contains(path) && !(path == "/" && request.method == .get),
           !Self.authorized(request.headers[.authorization], key: key) {
            response = style.response(.unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
        } else {
            do {
                response = try await next(request, context)
            } catch let error as ServeError {
                response = style.response(error)
            } catch let error as any HTTPResponseError {
                response = style.response(Self.serveError(error.status, path: path, method: request.method))
            } catch let error as MMAttnError {
                // The library refused an input (a malformed PNG, audio or FASTA): the client's.
                response = style.response(.model(error))
            } catch {
                response = style.response(.internal("\(error)"))
            }
        }
        state.metrics.request(route: Self.routes.contains(path) ? path : "unmatched", status: response.status.code,
                              seconds: (ContinuousClock.now - arrived).seconds)
        return response
    }

    /// `Bearer <key>`, compared in time that does not depend on where the bytes differ.
    static func authorized(_ header: String?, key: String) -> Bool {
        let given = Array((header ?? "").utf8), expected = Array("Bearer \(key)".utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    /// Hummingbird's own errors (no such route, wrong method) as the server's.
    static func serveError(_ status: HTTPResponse.Status, path: String, method: HTTPRequest.Method) -> ServeError {
        switch status {
        case .notFound where routes.contains(path): return .methodNotAllowed("\(path) does not take \(method.rawValue)")
        case .notFound: return .notFound("no route \(path): see GET /v1/models, POST /embed, POST /v1/embeddings")
        case .methodNotAllowed: return .methodNotAllowed("\(path) does not take \(method.rawValue)")
        case .contentTooLarge: return .tooLarge("the body is too large")
        default: return .badRequest("the request could not be read (\(status.code) \(status.reasonPhrase))")
        }
    }
}

extension APIStyle {
    /// OpenAI's error bodies under /v1, TEI's elsewhere.
    init(path: String) { self = path.hasPrefix("/v1/") ? .openAI : .tei }
}
