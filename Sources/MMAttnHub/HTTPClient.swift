import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The head of an HTTP response: status and headers (names compared case-insensitively).
struct HTTPHead: Sendable {
    let url: URL
    let status: Int
    let headers: [String: String]

    init(url: URL, status: Int, headers: [String: String]) {
        self.url = url
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    var isRedirect: Bool { [301, 302, 303, 307, 308].contains(status) && header("Location") != nil }

    /// The `Location` header resolved against the request URL.
    var location: URL? { header("Location").flatMap { URL(string: $0, relativeTo: url)?.absoluteURL } }
}

/// Why a request produced no response: the network, not the server (so the cache may still help).
struct NetworkFailure: Error, CustomStringConvertible {
    let url: URL
    let underlying: Error
    var description: String {
        let text = (underlying as? URLError).map { Self.describe($0) } ?? "\(underlying)"
        return "\(url.scheme ?? "http")://\(url.host ?? "")\(url.port.map { ":\($0)" } ?? ""): \(text)"
    }

    private static func describe(_ e: URLError) -> String {
        switch e.code {
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .cannotConnectToHost: return "connection refused"
        case .notConnectedToInternet: return "not connected to the internet"
        case .timedOut: return "no answer (timed out)"
        case .networkConnectionLost: return "connection lost"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate: return "TLS connection failed"
        default: return e.localizedDescription
        }
    }
}

/// A small synchronous HTTP client over URLSession: one request at a time, redirects never followed
/// automatically (the caller decides, so credentials never leave the Hub's host), bodies streamed
/// to a callback as they arrive.
final class HTTPClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: the mutable request state below is written on the session's serial delegate queue
    // while the calling thread waits on `done`; the caller reads it only after `done` is signalled.
    private var session: URLSession!
    private let delegateQueue = OperationQueue()
    private var head: HTTPHead?
    private var body: ((UnsafeRawBufferPointer) throws -> Void)?
    private var accept: ((HTTPHead) -> Bool)?
    private var bodyError: Error?
    private var taskError: Error?
    private let done = DispatchSemaphore(value: 0)

    override init() {
        super.init()
        delegateQueue.maxConcurrentOperationCount = 1
        let configuration = URLSessionConfiguration.ephemeral
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: delegateQueue)
    }

    /// Let the session go once its tasks end (URLSession keeps its delegate, this client, until then).
    func invalidate() { session.finishTasksAndInvalidate() }

    /// Send one request and wait for it to end. `accept` sees the response head first and says
    /// whether to take the body; each piece of an accepted body goes to `body` as it arrives (an
    /// error thrown there cancels the transfer and is rethrown). Network failures throw `NetworkFailure`.
    func send(_ method: String, _ url: URL, headers: [String: String], timeout: TimeInterval,
              accept: @escaping (HTTPHead) -> Bool = { _ in true },
              body: @escaping (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws -> HTTPHead {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = method
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        head = nil; bodyError = nil; taskError = nil
        self.accept = accept; self.body = body
        session.dataTask(with: request).resume()
        done.wait()
        self.accept = nil; self.body = nil
        if let bodyError { throw bodyError }
        if let head, taskError == nil || (taskError as? URLError)?.code == .cancelled { return head }
        throw NetworkFailure(url: url, underlying: taskError ?? URLError(.badServerResponse))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else { completionHandler(.cancel); return }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { if let k = k as? String, let v = v as? String { headers[k] = v } }
        let h = HTTPHead(url: http.url ?? dataTask.originalRequest!.url!, status: http.statusCode, headers: headers)
        head = h
        completionHandler(accept?(h) ?? true ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard bodyError == nil, let body else { return }
        do {
            try data.withUnsafeBytes { try body($0) }
        } catch {
            bodyError = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        taskError = error
        done.signal()
    }
}
