import Foundation
import Testing
@testable import MMAttn
import MMAttnServer
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// Tests of `mmattn serve` (the MMAttnServer library in-process, and the binary for SIGTERM).
//
// The client is a small HTTP/1.1 client over POSIX sockets, each exchange on a thread of its own:
// requests go out byte for byte as written here (the clients' documented bodies and headers), an
// early answer (413) can be read after a refused upload, and no blocking call ever sits on the
// Swift concurrency pool the in-process server's handlers run on. One test also goes through
// URLSession, the client a Swift program would use.

// MARK: - A raw HTTP/1.1 client

struct HTTPReply: Sendable {
    let status: Int
    /// Header names lowercased, in order.
    let headers: [HeaderField]
    let body: Data

    struct HeaderField: Sendable {
        let name: String
        let value: String
    }

    func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }
    var text: String { String(decoding: body, as: UTF8.self) }
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSON {
        do { return try JSON.parse(body) } catch {
            Issue.record("the body is not JSON: \(text.prefix(300))", sourceLocation: sourceLocation)
            throw error
        }
    }
}

struct HTTPClientError: Error, CustomStringConvertible {
    let description: String
    /// errno of a failed connect, when that is what failed.
    var connectErrno: Int32? = nil
}

enum RawHTTP {
    /// Longest wait for a connection or an answer: a hang fails the test instead of stalling the run.
    static let hangLimit: TimeInterval = 300

    /// A request: `Host`, `Content-Length` (with a body) and `Connection: close` are added unless
    /// `headers` has them.
    static func request(_ method: String, _ target: String, port: Int, headers: [(String, String)] = [], body: Data? = nil) -> Data {
        var fields = headers
        func has(_ name: String) -> Bool { fields.contains { $0.0.lowercased() == name } }
        if !has("host") { fields.insert(("Host", "127.0.0.1:\(port)"), at: 0) }
        if let body, !has("content-length"), !has("transfer-encoding") { fields.append(("Content-Length", String(body.count))) }
        if !has("connection") { fields.append(("Connection", "close")) }
        var out = Data("\(method) \(target) HTTP/1.1\r\n".utf8)
        for (name, value) in fields { out.append(Data("\(name): \(value)\r\n".utf8)) }
        out.append(Data("\r\n".utf8))
        if let body { out.append(body) }
        return out
    }

    /// Send `bytes` to 127.0.0.1:`port` and read one answer, on a thread of its own.
    static func exchange(port: Int, _ bytes: Data) async throws -> HTTPReply {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPReply, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try exchangeBlocking(port: port, bytes) }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    static func exchangeBlocking(port: Int, _ bytes: Data) throws -> HTTPReply {
        let fd = try openConnection(port: port)
        defer { close(fd) }
        return try exchange(fd, bytes)
    }

    /// Send each request and read its answer, one after the other on one connection (keep-alive).
    static func exchangeSequence(port: Int, _ requests: [Data]) async throws -> [HTTPReply] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[HTTPReply], any Error>) in
            let thread = Thread {
                continuation.resume(with: Result {
                    let fd = try openConnection(port: port)
                    defer { close(fd) }
                    return try requests.map { try exchange(fd, $0) }
                })
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Send `bytes` on `fd` and read one answer.
    static func exchange(_ fd: Int32, _ bytes: Data) throws -> HTTPReply {
        // Send all; a server that answers early (413) and closes may refuse the rest: read its answer.
        bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                sent += n
            }
        }
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            if let reply = try parse(buffer, atEOF: false) { return reply }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
            } else if n == 0 || errno == ECONNRESET {
                if let reply = try parse(buffer, atEOF: true) { return reply }
                throw HTTPClientError(description: "the connection closed after \(buffer.count) bytes of an incomplete answer: \(String(decoding: buffer.prefix(200), as: UTF8.self))")
            } else if errno != EINTR {
                throw HTTPClientError(description: "no answer within \(Int(hangLimit)) s (\(String(cString: strerror(errno))))")
            }
        }
    }

    /// A connected socket to 127.0.0.1:`port` with send and receive time limits.
    static func openConnection(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError(description: "socket: \(String(cString: strerror(errno)))") }
        var limit = timeval(tv_sec: Int(hangLimit), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw HTTPClientError(description: "connect to port \(port): \(String(cString: strerror(e)))", connectErrno: e)
        }
        return fd
    }

    /// The answer in `buffer` once complete (Content-Length, chunked, or up to EOF), else nil.
    static func parse(_ buffer: Data, atEOF: Bool) throws -> HTTPReply? {
        guard let headEnd = buffer.range(of: Data("\r\n\r\n".utf8)) else {
            if atEOF { throw HTTPClientError(description: "no complete header in \(buffer.count) bytes: \(String(decoding: buffer.prefix(200), as: UTF8.self))") }
            return nil
        }
        let head = String(decoding: buffer[buffer.startIndex..<headEnd.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw HTTPClientError(description: "not an HTTP status line: \(head.prefix(100))")
        }
        let headers = lines.compactMap { line -> HTTPReply.HeaderField? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return .init(name: line[..<colon].trimmingCharacters(in: .whitespaces).lowercased(),
                         value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let rest = Data(buffer[headEnd.upperBound...])
        func value(_ name: String) -> String? { headers.first { $0.name == name }?.value }
        if value("transfer-encoding")?.lowercased().contains("chunked") == true {
            var body = Data(), cursor = rest.startIndex
            while true {
                guard let lineEnd = rest.range(of: Data("\r\n".utf8), in: cursor..<rest.endIndex) else { break }
                let sizeText = String(decoding: rest[cursor..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw HTTPClientError(description: "bad chunk size \"\(sizeText)\"")
                }
                if size == 0 { return HTTPReply(status: status, headers: headers, body: body) }
                let start = lineEnd.upperBound
                guard rest.endIndex - start >= size + 2 else { break }
                body.append(rest[start..<(start + size)])
                cursor = start + size + 2
            }
            if atEOF { throw HTTPClientError(description: "the chunked body ended early") }
            return nil
        }
        if let length = value("content-length").flatMap({ Int($0) }) {
            if rest.count >= length { return HTTPReply(status: status, headers: headers, body: rest.prefix(length)) }
            if atEOF { throw HTTPClientError(description: "the body ended after \(rest.count) of \(length) bytes") }
            return nil
        }
        if status == 204 || status == 304 || (100..<200).contains(status) { return HTTPReply(status: status, headers: headers, body: Data()) }
        return atEOF ? HTTPReply(status: status, headers: headers, body: rest) : nil
    }
}

/// One part of a multipart/form-data body.
struct FormPart: Sendable {
    var name: String
    var filename: String? = nil
    var contentType: String? = nil
    var data: Data

    static func field(_ name: String, _ value: String) -> FormPart { FormPart(name: name, data: Data(value.utf8)) }
    static func file(_ path: String, name: String = "file", contentType: String = "application/octet-stream") throws -> FormPart {
        FormPart(name: name, filename: (path as NSString).lastPathComponent, contentType: contentType,
                 data: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static let boundary = "----mmattn-test-7f3a9c2e"

    static func body(_ parts: [FormPart]) -> Data {
        var out = Data()
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"" }
            head += "\r\n"
            if let type = part.contentType { head += "Content-Type: \(type)\r\n" }
            out.append(Data((head + "\r\n").utf8))
            out.append(part.data)
            out.append(Data("\r\n".utf8))
        }
        out.append(Data("--\(boundary)--\r\n".utf8))
        return out
    }
}

// MARK: - Servers in-process

/// A server running in this process on a free port of 127.0.0.1; `stop` cancels the task running it.
final class TestServer: Sendable {
    let port: Int
    let configuration: ServerConfiguration
    private let task: Task<Void, any Error>

    private init(port: Int, configuration: ServerConfiguration, task: Task<Void, any Error>) {
        self.port = port
        self.configuration = configuration
        self.task = task
    }

    private enum Event: Sendable { case listening(Int), ready }

    /// Start a server of `models` (`NAME=SOURCE`); returns once it listens and, with
    /// `waitUntilReady`, once its models are loaded. Throws what `run` threw when it ended first.
    static func start(_ models: [String], apiKey: String? = nil, waitUntilReady: Bool = true,
                      limits configure: (inout ServerLimits) -> Void = { _ in }) async throws -> TestServer {
        var limits = ServerLimits()
        configure(&limits)
        let configuration = ServerConfiguration(models: models.map(ModelSpec.init(parsing:)), host: "127.0.0.1", port: 0,
                                                apiKey: apiKey, limits: limits)
        let server = try MMAttnServer(configuration: configuration)
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let task = Task<Void, any Error> {
            defer { continuation.finish() }
            try await server.run(handlingSignals: false, onListening: { continuation.yield(.listening($0)) },
                                 onReady: { continuation.yield(.ready) })
        }
        // Either may come first: the models load while the socket is bound (see
        // `ServerStartTests.bindFailsBeforeAnyModelIsRead`).
        var port: Int?, ready = false
        waiting: for await event in events {
            switch event {
            case .listening(let p): port = p
            case .ready: ready = true
            }
            if port != nil && (ready || !waitUntilReady) { break waiting }
        }
        guard let port, port > 0, ready || !waitUntilReady else {
            task.cancel()
            if case .failure(let error) = await task.result { throw error }
            throw HTTPClientError(description: "the server ended before it was \(port == nil ? "listening" : "ready")")
        }
        return TestServer(port: port, configuration: configuration, task: task)
    }

    /// Cancel the server's task and wait for `run` to return.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        task.cancel()
        if case .failure(let error) = await task.result, !(error is CancellationError) {
            Issue.record("the server ended with \(error)", sourceLocation: sourceLocation)
        }
    }

    /// What `run` ended with (waits for it).
    var outcome: Result<Void, any Error> { get async { await task.result } }

    // Requests.

    func send(_ bytes: Data) async throws -> HTTPReply { try await RawHTTP.exchange(port: port, bytes) }

    func get(_ target: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await send(RawHTTP.request("GET", target, port: port, headers: headers))
    }

    func post(_ target: String, json: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await send(RawHTTP.request("POST", target, port: port, headers: [("Content-Type", "application/json")] + headers,
                                       body: Data(json.utf8)))
    }

    func post(_ target: String, body: Data, contentType: String?, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await send(RawHTTP.request("POST", target, port: port, headers: (contentType.map { [("Content-Type", $0)] } ?? []) + headers,
                                       body: body))
    }

    func post(_ target: String, form parts: [FormPart], headers: [(String, String)] = []) async throws -> HTTPReply {
        try await post(target, body: FormPart.body(parts), contentType: "multipart/form-data; boundary=\(FormPart.boundary)", headers: headers)
    }

    /// Expect `GET /health` to answer 200 with an empty body (the server still serves).
    func expectHealthy(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let health = try await get("/health")
        #expect(health.status == 200 && health.body.isEmpty, "after \(context): /health \(health.status) \(health.text)", sourceLocation: sourceLocation)
    }

    /// `GET /metrics` as (name with labels, value) lines.
    func metrics() async throws -> [(String, Double)] {
        let reply = try await get("/metrics")
        #expect(reply.status == 200)
        return Metrics.parse(reply.text)
    }
}

enum Metrics {
    static func parse(_ text: String) -> [(String, Double)] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            return (String(line[..<space]), value)
        }
    }

    /// The value of the line whose name is `name` and whose labels include every one of `labels` (`key="value"`).
    static func value(_ lines: [(String, Double)], _ name: String, _ labels: [String] = []) -> Double? {
        lines.first { key, _ in
            (key == name || key.hasPrefix(name + "{")) && labels.allSatisfy { key.contains($0) }
        }?.1
    }
}

/// A server shared by the tests of one suite: started before them, stopped after them.
struct SharedServerTrait: SuiteTrait, TestScoping {
    @TaskLocal static var current: TestServer?
    let models: [String]

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await TestServer.start(models)
        do {
            try await Self.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == SharedServerTrait {
    static func sharedServer(_ models: [String]) -> Self { SharedServerTrait(models: models) }
}

// MARK: - Helpers

/// `NAME=<fixture folder>` for a fixture model.
func served(_ name: String) -> String { "\(name)=\(Paths.model(name))" }

/// Run the `mmattn` binary on a thread of its own (the concurrency pool stays free for the server).
func runCLI(_ arguments: [String]) async throws -> CLI.Result {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CLI.Result, any Error>) in
        Thread { continuation.resume(with: Result { try CLI.run(arguments, timeout: 300) }) }.start()
    }
}

/// The CLI's stdout as JSON, after checking it succeeded.
func cliJSON(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSON {
    let r = try await runCLI(arguments)
    try #require(r.status == 0 && !r.signaled, "mmattn \(arguments.joined(separator: " ")): \(r.stderr.suffix(400))", sourceLocation: sourceLocation)
    return try JSON.parse(Data(r.stdout.utf8))
}

extension JSON {
    /// A JSON number as Float, read from its text (so the shortest form of a Float reads back exactly).
    var float: Float? { if case .number(let text) = self { return Float(text) }; return nil }

    /// Every number of nested arrays, in order.
    var flatFloats: [Float]? {
        if let f = float { return [f] }
        guard let items = array else { return nil }
        var out: [Float] = []
        for item in items {
            guard let values = item.flatFloats else { return nil }
            out += values
        }
        return out
    }

    subscript(key: String) -> JSON? { object?[key] }
    subscript(index: Int) -> JSON? { array.flatMap { index < $0.count ? $0[index] : nil } }
}

/// Largest absolute difference of two vectors (infinity when their lengths differ).
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
}

func norm(_ v: [Float]) -> Float { v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot() }

/// Little-endian float32 values of a base64 string.
func decodeBase64Floats(_ text: String) -> [Float]? {
    guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
    let bytes = [UInt8](data)
    return stride(from: 0, to: bytes.count, by: 4).map { (i: Int) -> Float in
        var bits: UInt32 = 0
        for k in 0..<4 { bits |= UInt32(bytes[i + k]) << UInt32(8 * k) }
        return Float(bitPattern: bits)
    }
}

/// The `[[float]]` of `/embed`.
func teiVectors(_ reply: HTTPReply, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[Float]] {
    try #require(reply.status == 200, "\(reply.status) \(reply.text.prefix(300))", sourceLocation: sourceLocation)
    let rows = try #require(try reply.json().array, "not a list: \(reply.text.prefix(200))", sourceLocation: sourceLocation)
    return try rows.map { try #require($0.flatFloats, "not a list of numbers", sourceLocation: sourceLocation) }
}

/// The vectors of `/v1/embeddings` (float or base64), checking the fields around them.
func openAIVectors(_ reply: HTTPReply, base64: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[Float]] {
    try #require(reply.status == 200, "\(reply.status) \(reply.text.prefix(300))", sourceLocation: sourceLocation)
    let json = try reply.json()
    #expect(json["object"]?.string == "list", sourceLocation: sourceLocation)
    let data = try #require(json["data"]?.array, sourceLocation: sourceLocation)
    return try data.enumerated().map { (i, item) -> [Float] in
        #expect(item["object"]?.string == "embedding", sourceLocation: sourceLocation)
        #expect(item["index"]?.int == i, sourceLocation: sourceLocation)
        if base64 {
            let text = try #require(item["embedding"]?.string, "base64 embeddings are strings", sourceLocation: sourceLocation)
            return try #require(decodeBase64Floats(text), "not base64 of float32 values: \(text.prefix(40))", sourceLocation: sourceLocation)
        }
        return try #require(item["embedding"]?.flatFloats, sourceLocation: sourceLocation)
    }
}

/// The `embedding` of each result of the commands' (and routes') embedding JSON, flattened.
func resultEmbeddings(_ json: JSON, sourceLocation: SourceLocation = #_sourceLocation) throws -> [[Float]] {
    let results = try #require(json["results"]?.array, "no results in \(json)", sourceLocation: sourceLocation)
    return try results.map { try #require($0["embedding"]?.flatFloats, sourceLocation: sourceLocation) }
}

/// TEI's error body: `{"error": str, "error_type": type}`.
func expectTEIError(_ reply: HTTPReply, _ status: Int, _ type: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == status, "\(context): status \(reply.status), not \(status): \(reply.text.prefix(300))", sourceLocation: sourceLocation)
    #expect(reply.header("content-type")?.hasPrefix("application/json") == true, "\(context): \(reply.header("content-type") ?? "no content type")", sourceLocation: sourceLocation)
    guard let json = try? JSON.parse(reply.body), let object = json.object else {
        Issue.record("\(context): the error body is not a JSON object: \(reply.text.prefix(300))", sourceLocation: sourceLocation)
        return
    }
    #expect(Set(object.keys) == ["error", "error_type"], "\(context): keys \(object.keys)", sourceLocation: sourceLocation)
    #expect(object["error"]?.string?.isEmpty == false, "\(context): no message", sourceLocation: sourceLocation)
    #expect(object["error_type"]?.string == type, "\(context): error_type \(object["error_type"].map { "\($0)" } ?? "missing"), not \(type)", sourceLocation: sourceLocation)
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
func expectOpenAIError(_ reply: HTTPReply, _ status: Int, type: String = "invalid_request_error", code: String? = nil, _ context: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(reply.status == status, "\(context): status \(reply.status), not \(status): \(reply.text.prefix(300))", sourceLocation: sourceLocation)
    #expect(reply.header("content-type")?.hasPrefix("application/json") == true, "\(context): \(reply.header("content-type") ?? "no content type")", sourceLocation: sourceLocation)
    guard let json = try? JSON.parse(reply.body), let object = json.object, let error = json["error"]?.object else {
        Issue.record("\(context): not OpenAI's error body: \(reply.text.prefix(300))", sourceLocation: sourceLocation)
        return
    }
    #expect(object.keys == ["error"], "\(context): keys \(object.keys)", sourceLocation: sourceLocation)
    #expect(Set(error.keys) == ["message", "type", "param", "code"], "\(context): error keys \(error.keys)", sourceLocation: sourceLocation)
    #expect(error["message"]?.string?.isEmpty == false, "\(context): no message", sourceLocation: sourceLocation)
    #expect(error["type"]?.string == type, "\(context): type \(error["type"].map { "\($0)" } ?? "missing"), not \(type)", sourceLocation: sourceLocation)
    if let code {
        #expect(error["code"]?.string == code, "\(context): code \(error["code"].map { "\($0)" } ?? "missing"), not \(code)", sourceLocation: sourceLocation)
    } else {
        #expect(error["code"]?.isNull == true, "\(context): code \(error["code"].map { "\($0)" } ?? "missing"), not null", sourceLocation: sourceLocation)
    }
}

/// A copy of st-bert-mean (links) whose weights file is a FIFO: loading it blocks in `open` until
/// the FIFO is opened for writing (`open(fifo, O_RDWR)` never blocks and releases it), then fails
/// (a FIFO is not a weights file). A load that is deterministically not done.
func blockingModelFolder() throws -> (folder: String, fifo: String) {
    let folder = CLI.tempDir()
    let source = Paths.model("st-bert-mean")
    for name in try FileManager.default.contentsOfDirectory(atPath: source) where name != "model.safetensors" {
        try FileManager.default.createSymbolicLink(atPath: folder + "/" + name, withDestinationPath: source + "/" + name)
    }
    let fifo = folder + "/model.safetensors"
    guard mkfifo(fifo, 0o600) == 0 else { throw HTTPClientError(description: "mkfifo: \(String(cString: strerror(errno)))") }
    return (folder, fifo)
}

/// Measured differences, printed so that tolerances can be set from them.
func report(_ what: String, _ difference: Float) {
    print("[server parity] \(what): max |difference| \(difference)")
}

// MARK: - Parity with the commands, request shapes, bad requests (one shared server)

/// The texts of the sentence-transformers reference (one is longer than st-bert-mean's 16 tokens).
private let sentences: [String] = {
    let json = try? JSON.load(contentsOf: Paths.reference("text-models/st-bert-mean/sentences.json"))
    return (json?["sentences"]?.array ?? []).compactMap(\.string)
}()

/// Tolerances of server vs command vectors: the same pipelines, but a request may share a batch
/// with others (the suite's tests run in parallel), which changes the GEMM blocking. Measured over
/// five runs of the suite (debug build, 2 cores): text up to 7.2e-7 (unnormalized st-bert-mean
/// vectors, longer than 1, in the mixed batches of the 64-client test; 4.8e-7 against
/// embed-text --no-normalize; 1.2e-7 normalized, also base64 vs float; 3.6e-7 token ids vs text);
/// images, audio, proteins and scores 0.0 (each alone in its batch, as in the command).
private enum Tolerance {
    static let text: Float = 3e-6
    static let image: Float = 1e-6
    static let audio: Float = 1e-6
    static let protein: Float = 1e-6
    static let scores: Float = 1e-6
}

@Suite(.sharedServer([served("st-bert-mean"), served("vit"), served("whisper-gen"), served("ast"), served("esm2")]))
struct ServerParityTests {
    var server: TestServer { get throws { try #require(SharedServerTrait.current, "the suite's server did not start") } }

    // MARK: Text

    @Test func teiEmbedMatchesEmbedText() async throws {
        let server = try server
        let texts = sentences
        try #require(texts.count == 6)
        let args = ["embed-text"] + texts + ["--model", Paths.model("st-bert-mean"), "--json"]
        async let normalizedCLI = cliJSON(args + ["--normalize"])
        async let plainCLI = cliJSON(args + ["--no-normalize"])
        let body = "{\"inputs\": [\(texts.map(JSON.quote).joined(separator: ", "))]}"
        let normalized = try teiVectors(try await server.post("/embed", json: body))
        let plain = try teiVectors(try await server.post("/embed", json: "{\"inputs\": [\(texts.map(JSON.quote).joined(separator: ", "))], \"normalize\": false}"))
        let expectedNormalized = try resultEmbeddings(try await normalizedCLI)
        let expectedPlain = try resultEmbeddings(try await plainCLI)
        try #require(normalized.count == 6 && plain.count == 6 && expectedNormalized.count == 6 && expectedPlain.count == 6)
        var worst: Float = 0, worstPlain: Float = 0
        for i in 0..<6 {
            #expect(normalized[i].count == 32 && plain[i].count == 32)
            worst = max(worst, maxDifference(normalized[i], expectedNormalized[i]))
            worstPlain = max(worstPlain, maxDifference(plain[i], expectedPlain[i]))
            #expect(abs(norm(normalized[i]) - 1) < 1e-5, "normalize defaults to true")
            #expect(abs(norm(plain[i]) - 1) > 1e-3, "normalize: false keeps the pooled vector's length")
        }
        report("/embed vs embed-text --normalize", worst)
        report("/embed normalize:false vs embed-text --no-normalize", worstPlain)
        #expect(worst <= Tolerance.text && worstPlain <= Tolerance.text)
    }

    @Test func openAIEmbeddingsMatchEmbedTextInBothEncodings() async throws {
        let server = try server
        let texts = sentences
        async let cli = cliJSON(["embed-text"] + texts + ["--model", Paths.model("st-bert-mean"), "--normalize", "--json"])
        let input = "[\(texts.map(JSON.quote).joined(separator: ", "))]"
        let floatReply = try await server.post("/v1/embeddings", json: "{\"input\": \(input), \"model\": \"st-bert-mean\"}")
        let floats = try openAIVectors(floatReply)
        let base64Reply = try await server.post("/v1/embeddings", json: "{\"input\": \(input), \"model\": \"st-bert-mean\", \"encoding_format\": \"base64\"}")
        let decoded = try openAIVectors(base64Reply, base64: true)
        let expected = try resultEmbeddings(try await cli)
        try #require(floats.count == 6 && decoded.count == 6 && expected.count == 6)
        let worst = (0..<6).map { maxDifference(floats[$0], expected[$0]) }.max()!
        let worstBase64 = (0..<6).map { maxDifference(decoded[$0], floats[$0]) }.max()!
        report("/v1/embeddings vs embed-text --normalize", worst)
        report("/v1/embeddings base64 vs float", worstBase64)
        #expect(worst <= Tolerance.text)
        #expect(worstBase64 <= Tolerance.text, "base64 decodes (little-endian float32) to the float format's numbers")
        for v in floats { #expect(v.count == 32 && abs(norm(v) - 1) < 1e-5, "OpenAI vectors are L2-normalized") }
        // usage counts the tokens: the texts' token counts, each cut to 16.
        let tokenized = try await server.post("/tokenize", json: "{\"inputs\": \(input)}")
        let counts = try #require(try tokenized.json().array?.map { $0.array?.count ?? 0 })
        let usage = try floatReply.json()["usage"]
        #expect(usage?["prompt_tokens"]?.int == counts.map { min($0, 16) }.reduce(0, +), "usage: \(String(describing: usage)); token counts \(counts)")
        #expect(usage?["total_tokens"]?.int == usage?["prompt_tokens"]?.int)
    }

    /// Token ids (from /tokenize) embed as their text does; `dimensions` keeps the first values,
    /// then normalizes them (TEI's and OpenAI's Matryoshka cut).
    @Test func tokenIdsAndDimensions() async throws {
        let server = try server
        let text = "Hello, world!"
        let tokens = try #require(try (await server.post("/tokenize", json: "{\"inputs\": \(JSON.quote(text))}")).json()[0]?.array)
        let ids = tokens.compactMap { $0["id"]?.int }
        #expect(ids == [2, 71, 20, 236, 30, 45, 86, 249, 233, 1, 3], "the reference's input_ids for \(text)")
        let byText = try teiVectors(try await server.post("/embed", json: "{\"inputs\": \(JSON.quote(text)), \"normalize\": false}"))[0]
        let byIds = try teiVectors(try await server.post("/embed", json: "{\"inputs\": [\(ids.map(String.init).joined(separator: ","))], \"normalize\": false}"))[0]
        let byIdLists = try teiVectors(try await server.post("/embed", json: "{\"inputs\": [[\(ids.map(String.init).joined(separator: ","))]], \"normalize\": false}"))[0]
        report("/embed token ids vs text", max(maxDifference(byIds, byText), maxDifference(byIdLists, byText)))
        #expect(maxDifference(byIds, byText) <= Tolerance.text && maxDifference(byIdLists, byText) <= Tolerance.text)

        let cut = try teiVectors(try await server.post("/embed", json: "{\"inputs\": \(JSON.quote(text)), \"dimensions\": 8}"))[0]
        let prefix = Array(byText.prefix(8)), length = norm(prefix)
        #expect(cut.count == 8)
        #expect(maxDifference(cut, prefix.map { $0 / length }) <= Tolerance.text, "dimensions 8: the first 8 values, normalized")
        let cutPlain = try teiVectors(try await server.post("/embed", json: "{\"inputs\": \(JSON.quote(text)), \"dimensions\": 8, \"normalize\": false}"))[0]
        #expect(maxDifference(cutPlain, prefix) <= Tolerance.text, "dimensions 8, normalize false: the first 8 values as they are")
        let openAI = try openAIVectors(try await server.post("/v1/embeddings", json: "{\"input\": \(JSON.quote(text)), \"dimensions\": 8}"))
        #expect(openAI.count == 1 && maxDifference(openAI[0], cut) <= Tolerance.text)
    }

    /// A text longer than the model's 16 tokens is cut when `truncate` is true or left out (the
    /// server's auto-truncate default), as embed-text cuts it.
    @Test func truncationMatchesTheCommand() async throws {
        let server = try server
        let long = sentences[4]
        async let cli = cliJSON(["embed-text", long, "--model", Paths.model("st-bert-mean"), "--json"])
        let cut = try teiVectors(try await server.post("/embed", json: "{\"inputs\": \(JSON.quote(long)), \"truncate\": true}"))[0]
        let unsaid = try teiVectors(try await server.post("/embed", json: "{\"inputs\": \(JSON.quote(long))}"))[0]
        let expected = try resultEmbeddings(try await cli)[0]
        #expect(maxDifference(cut, expected) <= Tolerance.text && maxDifference(unsaid, expected) <= Tolerance.text)
    }

    // MARK: Images, audio, proteins, transcription

    /// Labels and indices exactly, scores within a tolerance; the CLI's and the route's JSON have
    /// the same shape.
    private func expectSamePredictions(_ route: JSON, _ cli: JSON, inputs: [String], _ context: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let a = try #require(route["results"]?.array, "\(context): \(route)", sourceLocation: sourceLocation)
        let b = try #require(cli["results"]?.array, sourceLocation: sourceLocation)
        try #require(a.count == b.count && a.count == inputs.count, "\(context): \(a.count) results vs \(b.count)", sourceLocation: sourceLocation)
        var worst: Float = 0
        for (i, (x, y)) in zip(a, b).enumerated() {
            #expect(x["input"]?.string == inputs[i], "\(context): input \(String(describing: x["input"]))", sourceLocation: sourceLocation)
            let px = try #require(x["predictions"]?.array, sourceLocation: sourceLocation)
            let py = try #require(y["predictions"]?.array, sourceLocation: sourceLocation)
            try #require(px.count == py.count && !px.isEmpty, "\(context): \(px.count) predictions vs \(py.count)", sourceLocation: sourceLocation)
            for (p, q) in zip(px, py) {
                #expect(p.object?.keys == ["index", "label", "score"], sourceLocation: sourceLocation)
                #expect(p["index"]?.int == q["index"]?.int && p["label"]?.string == q["label"]?.string,
                        "\(context): \(p) vs \(q)", sourceLocation: sourceLocation)
                worst = max(worst, abs((p["score"]?.float ?? .nan) - (q["score"]?.float ?? .nan)))
            }
        }
        report(context, worst)
        #expect(worst <= Tolerance.scores, "\(context)", sourceLocation: sourceLocation)
    }

    @Test func classifyImageMatchesTheCommand() async throws {
        let server = try server
        let cat = Paths.fixture("images/cat.png"), horse = Paths.fixture("images/horse.png")
        async let cliOne = cliJSON(["classify-image", cat, "--model", Paths.model("vit"), "--json"])
        async let cliTwo = cliJSON(["classify-image", cat, horse, "--model", Paths.model("vit"), "--top-k", "3", "--json"])
        // A PNG body, options in the query.
        let one = try await server.post("/v1/images/classify", body: try Data(contentsOf: URL(fileURLWithPath: cat)), contentType: "image/png")
        #expect(one.status == 200, "\(one.text.prefix(300))")
        let oneJSON = try one.json()
        #expect(oneJSON["model"]?.string == "vit")
        try expectSamePredictions(oneJSON, try await cliOne, inputs: ["body"], "/v1/images/classify (PNG body) vs classify-image")
        // A form of two files, top_k as a field.
        let two = try await server.post("/v1/images/classify", form: [try .file(cat, contentType: "image/png"), try .file(horse, contentType: "image/png"),
                                                                       .field("top_k", "3")])
        #expect(two.status == 200, "\(two.text.prefix(300))")
        try expectSamePredictions(try two.json(), try await cliTwo, inputs: ["cat.png", "horse.png"], "/v1/images/classify (form) vs classify-image --top-k 3")
        let query = try await server.post("/v1/images/classify?top_k=2&model=vit", form: [try .file(cat, contentType: "image/png")])
        #expect(try query.json()["results"]?[0]?["predictions"]?.array?.count == 2, "top_k in the query: \(query.text.prefix(300))")
    }

    @Test func embedImageMatchesTheCommand() async throws {
        let server = try server
        let cat = Paths.fixture("images/cat.png"), horse = Paths.fixture("images/horse.png")
        async let cls = cliJSON(["embed-image", cat, horse, "--model", Paths.model("vit"), "--json"])
        async let mean = cliJSON(["embed-image", cat, "--model", Paths.model("vit"), "--pooling", "mean", "--json"])
        let reply = try await server.post("/v1/images/embeddings", form: [try .file(cat, contentType: "image/png"), try .file(horse, contentType: "image/png")])
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        let json = try reply.json()
        #expect(json["results"]?[0]?["shape"]?.array?.compactMap(\.int) == [32])
        #expect(json["results"]?.array?.compactMap { $0["input"]?.string } == ["cat.png", "horse.png"])
        let fromServer = try resultEmbeddings(json), expected = try resultEmbeddings(try await cls)
        try #require(fromServer.count == 2 && expected.count == 2)
        let worst = max(maxDifference(fromServer[0], expected[0]), maxDifference(fromServer[1], expected[1]))
        report("/v1/images/embeddings vs embed-image", worst)
        #expect(worst <= Tolerance.image)
        let meanReply = try await server.post("/v1/images/embeddings?pooling=mean", body: try Data(contentsOf: URL(fileURLWithPath: cat)), contentType: "image/png")
        let meanWorst = maxDifference(try resultEmbeddings(try meanReply.json())[0], try resultEmbeddings(try await mean)[0])
        report("/v1/images/embeddings?pooling=mean vs embed-image --pooling mean", meanWorst)
        #expect(meanWorst <= Tolerance.image)
    }

    @Test func embedAudioMatchesTheCommand() async throws {
        let server = try server
        let clips = [Paths.fixture("audio/cards-001.wav"), Paths.fixture("audio/derived/cards-005-8k.wav")]
        async let cli = cliJSON(["embed-audio"] + clips + ["--model", Paths.model("whisper-gen"), "--json"])
        let reply = try await server.post("/v1/audio/embeddings?model=whisper-gen", form: try clips.map { try .file($0, contentType: "audio/wav") })
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        let json = try reply.json()
        #expect(json["model"]?.string == "whisper-gen")
        let fromServer = try resultEmbeddings(json), expected = try resultEmbeddings(try await cli)
        try #require(fromServer.count == 2 && expected.count == 2)
        let worst = max(maxDifference(fromServer[0], expected[0]), maxDifference(fromServer[1], expected[1]))
        report("/v1/audio/embeddings vs embed-audio", worst)
        #expect(worst <= Tolerance.audio)
    }

    @Test func classifyAudioMatchesTheCommand() async throws {
        let server = try server
        let clip = Paths.fixture("audio/cards-001.wav")
        async let cli = cliJSON(["classify-audio", clip, "--model", Paths.model("ast"), "--json"])
        let reply = try await server.post("/v1/audio/classify", body: try Data(contentsOf: URL(fileURLWithPath: clip)), contentType: "audio/wav")
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        try expectSamePredictions(try reply.json(), try await cli, inputs: ["body"], "/v1/audio/classify vs classify-audio")
    }

    @Test func embedProteinMatchesTheCommand() async throws {
        let server = try server
        let fasta = Paths.fixture("protein/LuxC.faa")
        async let cli = cliJSON(["embed-protein", fasta, "--model", Paths.model("esm2"), "--json", "--quiet"])
        let reply = try await server.post("/v1/proteins/embeddings", body: try Data(contentsOf: URL(fileURLWithPath: fasta)), contentType: "text/x-fasta")
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        let json = try reply.json(), expectedJSON = try await cli
        #expect(json["results"]?.array?.compactMap { $0["input"]?.string } == expectedJSON["results"]?.array?.compactMap { $0["input"]?.string })
        let fromServer = try resultEmbeddings(json), expected = try resultEmbeddings(expectedJSON)
        try #require(fromServer.count == expected.count && !fromServer.isEmpty)
        let worst = zip(fromServer, expected).map { maxDifference($0, $1) }.max()!
        report("/v1/proteins/embeddings vs embed-protein", worst)
        #expect(worst <= Tolerance.protein)
        // include=bos,per-token,contacts adds those arrays to each result.
        let more = try await server.post("/v1/proteins/embeddings?include=bos,per-token,contacts", body: try Data(contentsOf: URL(fileURLWithPath: fasta)),
                                         contentType: "text/x-fasta")
        let first = try #require(try more.json()["results"]?[0]?.object, "\(more.text.prefix(300))")
        #expect(Set(first.keys) == ["input", "shape", "embedding", "per_token", "bos", "contacts"], "\(first.keys)")
    }

    @Test func transcriptionMatchesTheCommand() async throws {
        let server = try server
        let clip = Paths.fixture("audio/cards-001.wav")
        async let cli = runCLI(["transcribe", clip, "--model", Paths.model("whisper-gen"), "--format", "txt", "--quiet"])
        let reply = try await server.post("/v1/audio/transcriptions", form: [try .file(clip, contentType: "audio/wav"), .field("model", "whisper-1"),
                                                                             .field("response_format", "json")])
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        let json = try reply.json()
        #expect(json.object?.keys == ["text"])
        let text = try #require(json["text"]?.string)
        let r = try await cli
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        #expect(text == r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "server \(text.debugDescription) vs transcribe \(r.stdout.debugDescription)")
        let plain = try await server.post("/v1/audio/transcriptions", form: [try .file(clip, contentType: "audio/wav"), .field("response_format", "text")])
        #expect(plain.status == 200 && plain.text == text + "\n" && plain.header("content-type")?.hasPrefix("text/plain") == true)
    }

    // MARK: Request shapes from the clients' documentation

    /// The OpenAI Python client's request for `client.embeddings.create(model="text-embedding-3-small",
    /// input=...)`: it asks for base64 unless told otherwise. The server has one text model, which
    /// answers whatever model name the client keeps.
    @Test func openAIPythonClientRequest() async throws {
        let server = try server
        let body = #"{"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small", "encoding_format": "base64"}"#
        let request = Data(("POST /v1/embeddings HTTP/1.1\r\n"
            + "Host: 127.0.0.1:\(server.port)\r\n"
            + "Accept-Encoding: gzip, deflate\r\n"
            + "Connection: keep-alive\r\n"
            + "Accept: application/json\r\n"
            + "Content-Type: application/json\r\n"
            + "User-Agent: OpenAI/Python 1.54.4\r\n"
            + "X-Stainless-Lang: python\r\n"
            + "X-Stainless-Package-Version: 1.54.4\r\n"
            + "X-Stainless-OS: Linux\r\n"
            + "X-Stainless-Arch: x64\r\n"
            + "X-Stainless-Runtime: CPython\r\n"
            + "X-Stainless-Runtime-Version: 3.12.3\r\n"
            + "Authorization: Bearer sk-no-key-required\r\n"
            + "X-Stainless-Async: false\r\n"
            + "x-stainless-retry-count: 0\r\n"
            + "Content-Length: \(body.utf8.count)\r\n"
            + "\r\n" + body).utf8)
        let reply = try await server.send(request)
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        #expect(reply.header("content-type")?.hasPrefix("application/json") == true)
        let json = try reply.json()
        #expect(json.object?.keys == ["object", "data", "model", "usage"])
        #expect(json["object"]?.string == "list")
        #expect(json["model"]?.string == "st-bert-mean", "the served model's name, as TEI answers")
        let data = try #require(json["data"]?.array)
        try #require(data.count == 1)
        #expect(data[0].object?.keys == ["object", "index", "embedding"])
        #expect(data[0]["object"]?.string == "embedding" && data[0]["index"]?.int == 0)
        let vector = try #require(data[0]["embedding"]?.string.flatMap(decodeBase64Floats))
        #expect(vector.count == 32 && abs(norm(vector) - 1) < 1e-5)
        #expect(json["usage"]?.object?.keys == ["prompt_tokens", "total_tokens"])
        let tokens = try (await server.post("/tokenize", json: #"{"inputs": "The food was delicious and the waiter..."}"#)).json()[0]?.array?.count
        #expect(json["usage"]?["prompt_tokens"]?.int == tokens.map { min($0, 16) } && json["usage"]?["total_tokens"]?.int == tokens.map { min($0, 16) })
        let floats = try openAIVectors(try await server.post("/v1/embeddings", json: #"{"input": "The food was delicious and the waiter...", "model": "text-embedding-3-small"}"#))
        #expect(maxDifference(floats[0], vector) <= Tolerance.text)
    }

    /// TEI's README: `curl 127.0.0.1:8080/embed -X POST -d '{"inputs":"What is Deep Learning?"}'
    /// -H 'Content-Type: application/json'`, as curl sends it.
    @Test func teiReadmeCurlRequest() async throws {
        let server = try server
        let body = #"{"inputs":"What is Deep Learning?"}"#
        let request = Data(("POST /embed HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
        let reply = try await server.send(request)
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        #expect(reply.header("content-type")?.hasPrefix("application/json") == true)
        let rows = try #require(try reply.json().array)
        try #require(rows.count == 1)
        let vector = try #require(rows[0].flatFloats)
        #expect(rows[0].array?.count == 32 && vector.count == 32 && abs(norm(vector) - 1) < 1e-5)
        let r = try await runCLI(["embed-text", "What is Deep Learning?", "--model", Paths.model("st-bert-mean"), "--json"])
        let expected = try resultEmbeddings(try JSON.parse(Data(r.stdout.utf8)))[0]
        #expect(maxDifference(vector, expected) <= Tolerance.text)
        // The README's batch example.
        let batch = try teiVectors(try await server.post("/embed", json: #"{"inputs":["Today is a nice day", "I like you"]}"#))
        #expect(batch.count == 2 && batch.allSatisfy { $0.count == 32 })
    }

    @Test func tokenizeInfoAndModelsShapes() async throws {
        let server = try server
        let tokenize = try await server.post("/tokenize", json: #"{"inputs":"Hello, world!"}"#)
        #expect(tokenize.status == 200)
        let tokens = try #require(try tokenize.json()[0]?.array)
        #expect(tokens.count == 11)
        for (i, t) in tokens.enumerated() {
            #expect(t.object?.keys == ["id", "text", "special", "start", "stop"])
            #expect(t["id"]?.int != nil && t["text"]?.string != nil && t["start"]?.isNull == true && t["stop"]?.isNull == true)
            #expect(t["special"]?.bool == (i == 0 || i == tokens.count - 1), "only [CLS] and [SEP] are special: \(t)")
        }
        let info = try await server.get("/info")
        #expect(info.status == 200)
        let infoJSON = try info.json()
        #expect(infoJSON["max_input_length"]?.int == 16)
        #expect(infoJSON["max_client_batch_size"]?.int == 32)
        #expect(infoJSON["served_model_name"]?.string == "st-bert-mean")
        #expect(infoJSON["model_type"]?["embedding"]?["pooling"]?.string == "mean")
        #expect(infoJSON["model_dtype"]?.string == "float32")
        let models = try await server.get("/v1/models")
        #expect(models.status == 200)
        let list = try models.json()
        #expect(list["object"]?.string == "list")
        let data = try #require(list["data"]?.array)
        #expect(data.compactMap { $0["id"]?.string } == ["st-bert-mean", "vit", "whisper-gen", "ast", "esm2"])
        for m in data { #expect(m["object"]?.string == "model" && m["owned_by"]?.string == "mmattn" && m["created"]?.int != nil) }
        #expect(data[2]["mmattn"]?["serves"]?.array?.compactMap(\.string) == ["audio", "transcription"])
        try await server.expectHealthy("the shape checks")
    }

    /// Other transcription formats: text, srt, vtt and verbose_json answer 200 in their content types.
    @Test(arguments: [("text", "text/plain"), ("srt", "text/plain"), ("vtt", "text/vtt"), ("verbose_json", "application/json")])
    func transcriptionFormats(format: String, contentType: String) async throws {
        let server = try server
        let reply = try await server.post("/v1/audio/transcriptions", form: [try .file(Paths.fixture("audio/cards-001.wav"), contentType: "audio/wav"),
                                                                             .field("response_format", format)])
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        #expect(reply.header("content-type")?.hasPrefix(contentType) == true, "\(reply.header("content-type") ?? "none")")
        if format == "vtt" { #expect(reply.text.hasPrefix("WEBVTT")) }
        if format == "verbose_json" {
            let json = try reply.json()
            #expect(json["task"]?.string == "transcribe" && json["text"]?.string != nil && json["segments"]?.array != nil && json["duration"]?.double != nil)
        }
    }

    // MARK: Bad requests

    struct BadRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "POST"
        var path: String
        var contentType: String? = "application/json"
        var body: String?
        var status: Int
        /// TEI's error_type, or OpenAI's code (nil: null) under /v1.
        var type: String?
        var testDescription: String { name }
    }

    static let badRequests: [BadRequest] = [
        .init(name: "malformed JSON", path: "/embed", body: #"{"inputs": "a"#, status: 400, type: "Validation"),
        .init(name: "malformed JSON (OpenAI)", path: "/v1/embeddings", body: #"{"input": ["a",]}"#, status: 400, type: nil),
        .init(name: "empty body", path: "/embed", body: "", status: 400, type: "Validation"),
        .init(name: "not an object", path: "/embed", body: #"["a"]"#, status: 422, type: "Validation"),
        .init(name: "inputs is a number", path: "/embed", body: #"{"inputs": 5}"#, status: 422, type: "Validation"),
        .init(name: "input is a number (OpenAI)", path: "/v1/embeddings", body: #"{"input": 5, "model": "st-bert-mean"}"#, status: 422, type: nil),
        .init(name: "missing inputs", path: "/embed", body: #"{"input": "a"}"#, status: 422, type: "Validation"),
        .init(name: "normalize is a string", path: "/embed", body: #"{"inputs": "a", "normalize": "yes"}"#, status: 422, type: "Validation"),
        .init(name: "truncate is a number", path: "/embed", body: #"{"inputs": "a", "truncate": 1}"#, status: 422, type: "Validation"),
        .init(name: "an input of another type", path: "/embed", body: #"{"inputs": ["a", {"b": 1}]}"#, status: 422, type: "Validation"),
        .init(name: "a fractional token id", path: "/embed", body: #"{"inputs": [2, 3.5]}"#, status: 422, type: "Validation"),
        .init(name: "a token id outside the vocabulary", path: "/embed", body: #"{"inputs": [2, 100000, 3]}"#, status: 422, type: "Validation"),
        .init(name: "empty input list", path: "/embed", body: #"{"inputs": []}"#, status: 400, type: "Empty"),
        .init(name: "empty input list (OpenAI)", path: "/v1/embeddings", body: #"{"input": []}"#, status: 400, type: nil),
        .init(name: "empty string", path: "/embed", body: #"{"inputs": ""}"#, status: 400, type: "Empty"),
        .init(name: "an empty string in a list", path: "/embed", body: #"{"inputs": ["a", ""]}"#, status: 400, type: "Empty"),
        .init(name: "an empty id list", path: "/embed", body: #"{"inputs": [[2, 3], []]}"#, status: 400, type: "Empty"),
        .init(name: "33 inputs", path: "/embed", body: "{\"inputs\": [\((0..<33).map { "\"text \($0)\"" }.joined(separator: ","))]}", status: 422, type: "Validation"),
        .init(name: "33 inputs (OpenAI)", path: "/v1/embeddings", body: "{\"input\": [\((0..<33).map { "\"text \($0)\"" }.joined(separator: ","))]}", status: 422, type: nil),
        .init(name: "33 texts to tokenize", path: "/tokenize", body: "{\"inputs\": [\((0..<33).map { "\"text \($0)\"" }.joined(separator: ","))]}", status: 422, type: "Validation"),
        .init(name: "too long with truncate false", path: "/embed",
              body: "{\"inputs\": \(JSON.quote(String(repeating: "free software ", count: 20))), \"truncate\": false}", status: 422, type: "Validation"),
        .init(name: "too many token ids with truncate false", path: "/embed",
              body: "{\"inputs\": [\((0..<17).map { _ in "5" }.joined(separator: ","))], \"truncate\": false}", status: 422, type: "Validation"),
        .init(name: "dimensions 0", path: "/embed", body: #"{"inputs": "a", "dimensions": 0}"#, status: 422, type: "Validation"),
        .init(name: "dimensions 0 (OpenAI)", path: "/v1/embeddings", body: #"{"input": "a", "dimensions": 0}"#, status: 422, type: nil),
        .init(name: "dimensions above the width", path: "/embed", body: #"{"inputs": "a", "dimensions": 33}"#, status: 422, type: "Validation"),
        .init(name: "unknown prompt name", path: "/embed", body: #"{"inputs": "a", "prompt_name": "query"}"#, status: 422, type: "Validation"),
        .init(name: "truncation at the left", path: "/embed", body: #"{"inputs": "a", "truncation_direction": "Left"}"#, status: 422, type: "Validation"),
        .init(name: "unknown encoding format", path: "/v1/embeddings", body: #"{"input": "a", "encoding_format": "int8"}"#, status: 422, type: nil),
        .init(name: "unknown route", method: "GET", path: "/nope", contentType: nil, body: nil, status: 404, type: "NotFound"),
        .init(name: "unknown route (OpenAI)", path: "/v1/chat/completions", body: #"{"model": "x", "messages": []}"#, status: 404, type: nil),
        .init(name: "GET /embed", method: "GET", path: "/embed", contentType: nil, body: nil, status: 405, type: "NotFound"),
        .init(name: "DELETE /v1/embeddings", method: "DELETE", path: "/v1/embeddings", contentType: nil, body: nil, status: 405, type: nil),
        .init(name: "POST /health", path: "/health", body: "{}", status: 405, type: "NotFound"),
        .init(name: "not a PNG", path: "/v1/images/classify", contentType: "image/png", body: "GIF89a, not a PNG at all", status: 422, type: nil),
        .init(name: "no file", path: "/v1/images/classify", contentType: nil, body: nil, status: 400, type: nil),
        .init(name: "top_k 0", path: "/v1/images/classify?top_k=0", contentType: "image/png", body: "x", status: 422, type: nil),
        .init(name: "unknown pooling", path: "/v1/images/embeddings?pooling=max", contentType: "image/png", body: "x", status: 422, type: nil),
        .init(name: "not a WAV", path: "/v1/audio/embeddings", contentType: "audio/wav", body: "RIFF....WAVEnot really", status: 422, type: nil),
        .init(name: "not FASTA", path: "/v1/proteins/embeddings", contentType: "text/plain", body: ">p1\nMKV*&^%$#@!123\n", status: 422, type: nil),
        .init(name: "unknown protein output", path: "/v1/proteins/embeddings?include=everything", contentType: "text/plain", body: ">p1\nMKV\n", status: 422, type: nil),
        .init(name: "unknown transcription format", path: "/v1/audio/transcriptions?response_format=docx", contentType: "audio/wav", body: "RIFF", status: 422, type: nil),
    ]

    @Test(arguments: ServerParityTests.badRequests)
    func badRequestIsRefusedAndTheServerStillServes(_ bad: BadRequest) async throws {
        let server = try server
        let body = bad.body.map { Data($0.utf8) }
        var headers: [(String, String)] = []
        if let type = bad.contentType { headers.append(("Content-Type", type)) }
        let reply = try await server.send(RawHTTP.request(bad.method, bad.path, port: server.port, headers: headers, body: body))
        if bad.path.hasPrefix("/v1/") {
            expectOpenAIError(reply, bad.status, code: bad.type, bad.name)
        } else {
            expectTEIError(reply, bad.status, bad.type ?? "", bad.name)
        }
        try await server.expectHealthy(bad.name)
    }

    /// The limit /info reports is the one `truncate: false` enforces: 16 tokens pass, 17 do not.
    @Test func truncateFalseFollowsInfo() async throws {
        let server = try server
        let limit = try #require(try (await server.get("/info")).json()["max_input_length"]?.int)
        #expect(limit == 16)
        let ids = { (n: Int) in "[2,\(Array(repeating: "565", count: n - 2).joined(separator: ",")),3]" }
        let fits = try await server.post("/embed", json: "{\"inputs\": \(ids(limit)), \"truncate\": false}")
        #expect(fits.status == 200, "\(limit) token ids fit: \(fits.text.prefix(200))")
        let over = try await server.post("/embed", json: "{\"inputs\": \(ids(limit + 1)), \"truncate\": false}")
        expectTEIError(over, 422, "Validation", "\(limit + 1) token ids with truncate false")
        // 32 inputs is the most a request may hold.
        let most = try await server.post("/embed", json: "{\"inputs\": [\((0..<32).map { "\"text \($0)\"" }.joined(separator: ","))]}")
        #expect(try teiVectors(most).count == 32)
    }

    /// /health answers 200 once `onReady` was called (the shared server waited for it), with an
    /// empty body, and /metrics gives Prometheus text.
    @Test func healthAndMetricsAfterReady() async throws {
        let server = try server
        let health = try await server.get("/health")
        #expect(health.status == 200 && health.body.isEmpty)
        let metrics = try await server.get("/metrics")
        #expect(metrics.status == 200 && metrics.header("content-type")?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains("# TYPE mmattn_requests_total counter"), "\(metrics.text.prefix(400))")
    }

    /// URLSession (FoundationNetworking's on Linux), the client a Swift program uses, gets the same answer.
    @Test func urlSessionClient() async throws {
        let server = try server
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 300
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/embed")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"inputs":"What is Deep Learning?"}"#.utf8)
        let (data, status) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, Int), any Error>) in
            session.dataTask(with: request) { data, response, error in
                if let error { continuation.resume(throwing: error); return }
                continuation.resume(returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
            }.resume()
        }
        #expect(status == 200)
        let viaSession = try #require(try JSON.parse(data).array?.first?.flatFloats)
        let viaSocket = try teiVectors(try await server.post("/embed", json: #"{"inputs":"What is Deep Learning?"}"#))[0]
        #expect(maxDifference(viaSession, viaSocket) <= Tolerance.text)
    }
    /// Clients keep connections open (the OpenAI client's httpx pool, curl with several URLs): a
    /// success, a refused request and a probe follow each other on one connection.
    @Test func keepAliveConnectionServesSeveralRequests() async throws {
        let server = try server
        let keepAlive = [("Content-Type", "application/json"), ("Connection", "keep-alive")]
        let replies = try await RawHTTP.exchangeSequence(port: server.port, [
            RawHTTP.request("POST", "/embed", port: server.port, headers: keepAlive, body: Data(#"{"inputs": "one"}"#.utf8)),
            RawHTTP.request("POST", "/embed", port: server.port, headers: keepAlive, body: Data(#"{"inputs": "two"#.utf8)),
            RawHTTP.request("POST", "/v1/embeddings", port: server.port, headers: keepAlive, body: Data(#"{"input": 5}"#.utf8)),
            RawHTTP.request("GET", "/health", port: server.port, headers: [("Connection", "keep-alive")]),
            RawHTTP.request("POST", "/embed", port: server.port, headers: keepAlive, body: Data(#"{"inputs": ["three", "four"]}"#.utf8)),
        ])
        #expect(replies.map(\.status) == [200, 400, 422, 200, 200])
        #expect(try teiVectors(replies[4]).count == 2)
    }
}

// MARK: - Servers with limits of their own

@Suite struct ServerLimitTests {
    /// Bodies over `payloadBytes` are 413, whether the client says the length or sends chunks.
    @Test func payloadLimit() async throws {
        let server = try await TestServer.start([served("st-bert-mean"), served("vit")]) {
            $0.payloadBytes = 200
            $0.uploadBytes = 4096
        }
        let big = "{\"inputs\": \(JSON.quote(String(repeating: "x", count: 1000)))}"
        expectTEIError(try await server.post("/embed", json: big), 413, "Validation", "1 kB body, Content-Length")
        try await server.expectHealthy("413")
        expectOpenAIError(try await server.post("/v1/embeddings", json: "{\"input\": \(JSON.quote(String(repeating: "x", count: 1000)))}"),
                          413, code: "payload_too_large", "1 kB body to /v1/embeddings")
        // Chunked: the limit is found while reading.
        var chunked = Data()
        for piece in stride(from: 0, to: big.utf8.count, by: 100).map({ Array(big.utf8)[$0..<min($0 + 100, big.utf8.count)] }) {
            chunked.append(Data(String(piece.count, radix: 16).utf8) + Data("\r\n".utf8) + Data(piece) + Data("\r\n".utf8))
        }
        chunked.append(Data("0\r\n\r\n".utf8))
        let reply = try await server.send(RawHTTP.request("POST", "/embed", port: server.port,
                                                          headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], body: chunked))
        expectTEIError(reply, 413, "Validation", "1 kB chunked body")
        try await server.expectHealthy("chunked 413")
        // Within the limit it is served.
        #expect(try teiVectors(try await server.post("/embed", json: #"{"inputs": "a small one"}"#)).count == 1)
        // Uploads have their own limit (cat.png is 240 kB).
        let png = try Data(contentsOf: URL(fileURLWithPath: Paths.fixture("images/cat.png")))
        expectOpenAIError(try await server.post("/v1/images/classify", body: png, contentType: "image/png"), 413, code: "payload_too_large", "240 kB PNG")
        try await server.expectHealthy("upload 413")
        await server.stop()
    }

    @Test func apiKey() async throws {
        let server = try await TestServer.start([served("st-bert-mean")], apiKey: "s3cret")
        let body = #"{"inputs": "a"}"#
        let missing = try await server.post("/embed", json: body)
        expectTEIError(missing, 401, "Unauthorized", "no key")
        #expect(missing.header("www-authenticate") == "Bearer")
        expectTEIError(try await server.post("/embed", json: body, headers: [("Authorization", "Bearer wrong")]), 401, "Unauthorized", "wrong key")
        expectTEIError(try await server.post("/embed", json: body, headers: [("Authorization", "Bearer s3cret2")]), 401, "Unauthorized", "longer key")
        expectTEIError(try await server.post("/embed", json: body, headers: [("Authorization", "s3cret")]), 401, "Unauthorized", "no Bearer")
        expectOpenAIError(try await server.post("/v1/embeddings", json: #"{"input": "a"}"#), 401, code: "invalid_api_key", "no key (OpenAI)")
        expectOpenAIError(try await server.get("/v1/models"), 401, code: "invalid_api_key", "no key for /v1/models")
        #expect(try await server.post("/embed", json: body, headers: [("Authorization", "Bearer s3cret")]).status == 200)
        #expect(try await server.get("/v1/models", headers: [("Authorization", "Bearer s3cret")]).status == 200)
        // Probes and scrapers need no key.
        try await server.expectHealthy("401s")
        #expect(try await server.get("/metrics").status == 200)
        await server.stop()
    }

    /// With two text models, `model` picks one; an unknown name is 404 model_not_found (no
    /// silent fallback when the choice is ambiguous).
    @Test func modelNames() async throws {
        let server = try await TestServer.start([served("st-bert-mean"), served("bert")])
        let unknown = try await server.post("/v1/embeddings", json: #"{"input": "a cat", "model": "text-embedding-3-small"}"#)
        expectOpenAIError(unknown, 404, code: "model_not_found", "unknown model with two text models")
        try await server.expectHealthy("404")
        let first = try openAIVectors(try await server.post("/v1/embeddings", json: #"{"input": "a cat", "model": "st-bert-mean"}"#))[0]
        let second = try openAIVectors(try await server.post("/v1/embeddings", json: #"{"input": "a cat", "model": "bert"}"#))[0]
        let unnamed = try openAIVectors(try await server.post("/v1/embeddings", json: #"{"input": "a cat"}"#))[0]
        let tei = try teiVectors(try await server.post("/embed", json: #"{"inputs": "a cat"}"#))[0]
        #expect(maxDifference(unnamed, first) <= Tolerance.text, "no name: the first text model")
        #expect(maxDifference(tei, first) <= Tolerance.text, "/embed: the first text model")
        #expect(maxDifference(first, second) > 1e-3, "bert answers with its own vectors")
        await server.stop()
    }

    /// 64 clients at once, each with its own text and options (normalized or not, a `dimensions`
    /// cut, two inputs): each gets the vectors a lone request with the same body gets (answers and
    /// per-request options are not mixed up when requests share batches), and batches of more than
    /// one request were formed (the queue waits 500 ms for the first request's companions).
    @Test func concurrentClientsGetTheirOwnVectors() async throws {
        let bodies = (0..<64).map { i -> String in
            let text = JSON.quote("sentence number \(i)")
            switch i % 4 {
            case 0: return "{\"inputs\": \(text)}"
            case 1: return "{\"inputs\": \(text), \"normalize\": false}"
            case 2: return "{\"inputs\": \(text), \"dimensions\": 16}"
            default: return "{\"inputs\": [\(text), \"and a second input\"]}"
            }
        }
        let lone = try await TestServer.start([served("st-bert-mean")])
        var alone: [[[Float]]] = []
        for body in bodies { alone.append(try teiVectors(try await lone.post("/embed", json: body))) }
        await lone.stop()

        let server = try await TestServer.start([served("st-bert-mean")]) { $0.batchWait = .milliseconds(500) }
        let port = server.port
        let replies = try await withThrowingTaskGroup(of: (Int, HTTPReply).self) { group in
            for (i, body) in bodies.enumerated() {
                group.addTask {
                    let request = RawHTTP.request("POST", "/embed", port: port, headers: [("Content-Type", "application/json")], body: Data(body.utf8))
                    return (i, try await RawHTTP.exchange(port: port, request))
                }
            }
            var out = [HTTPReply?](repeating: nil, count: bodies.count)
            for try await (i, reply) in group { out[i] = reply }
            return out.map { $0! }
        }
        var worst: Float = 0, separation: Float = .infinity
        for (i, reply) in replies.enumerated() {
            let vectors = try teiVectors(reply)
            try #require(vectors.count == alone[i].count, "request \(i): \(vectors.count) vectors")
            for (v, w) in zip(vectors, alone[i]) { worst = max(worst, maxDifference(v, w)) }
            for j in bodies.indices where j != i { separation = min(separation, maxDifference(vectors[0], alone[j][0])) }
        }
        report("64 concurrent vs lone requests", worst)
        print("[server parity] smallest difference to another text's vector: \(separation)")
        #expect(worst <= Tolerance.text)
        #expect(separation > 100 * Tolerance.text, "the texts' vectors are far enough apart for the tolerance to tell them apart")

        let metrics = try await server.metrics()
        let count = Metrics.value(metrics, "mmattn_batch_size_count", [#"model="st-bert-mean""#])
        let sum = Metrics.value(metrics, "mmattn_batch_size_sum", [#"model="st-bert-mean""#])
        #expect(sum == 64, "64 requests went through batches: \(String(describing: sum))")
        #expect(count.map { $0 < 64 } == true, "some batch held more than one request: \(String(describing: count)) batches")
        #expect(Metrics.value(metrics, "mmattn_requests_total", [#"route="/embed""#, #"status="200""#]) == 64)
        await server.stop()
    }

    /// A queue of one with a long batch wait: while the first request waits for companions, the
    /// queue is full, and others are refused at once with 429, Retry-After and TEI's `Overloaded`.
    @Test func fullQueueAnswers429() async throws {
        let server = try await TestServer.start([served("st-bert-mean")]) {
            $0.queueSize = 1
            // Long enough to be seen in the queue on a slow machine: 2 s was missed under
            // AddressSanitizer with the other core busy.
            $0.batchWait = .seconds(10)
        }
        let first = Task { try await server.post("/embed", json: #"{"inputs": "the first request"}"#) }
        // Wait until the first request is in the queue (the depth gauge says so), then overflow it.
        var queued = false
        for _ in 0..<2000 where !queued {
            queued = Metrics.value(try await server.metrics(), "mmattn_queue_depth", [#"model="st-bert-mean""#]) == 1
            if !queued { try await Task.sleep(for: .milliseconds(5)) }
        }
        try #require(queued, "the first request never showed in mmattn_queue_depth")
        let port = server.port
        let others = try await withThrowingTaskGroup(of: HTTPReply.self) { group in
            for i in 0..<4 {
                group.addTask {
                    try await RawHTTP.exchange(port: port, RawHTTP.request("POST", i % 2 == 0 ? "/embed" : "/v1/embeddings", port: port,
                                                                           headers: [("Content-Type", "application/json")],
                                                                           body: Data((i % 2 == 0 ? #"{"inputs": "another"}"# : #"{"input": "another"}"#).utf8)))
                }
            }
            var out: [HTTPReply] = []
            for try await reply in group { out.append(reply) }
            return out
        }
        let refused = others.filter { $0.status == 429 }
        #expect(!refused.isEmpty, "statuses \(others.map(\.status))")
        #expect(others.allSatisfy { $0.status == 429 || $0.status == 200 }, "statuses \(others.map(\.status))")
        for reply in refused {
            #expect(reply.header("retry-after").flatMap { Int($0) }.map { $0 >= 1 } == true, "Retry-After: \(reply.header("retry-after") ?? "missing")")
            let json = try reply.json()
            if json["error_type"] != nil {
                expectTEIError(reply, 429, "Overloaded", "429 on /embed")
            } else {
                expectOpenAIError(reply, 429, type: "requests", code: "rate_limit_exceeded", "429 on /v1/embeddings")
            }
        }
        #expect(try teiVectors(try await first.value).count == 1, "the queued request is answered")
        let metrics = try await server.metrics()
        #expect(Metrics.value(metrics, "mmattn_rejected_total", [#"model="st-bert-mean""#]) == Double(refused.count))
        try await server.expectHealthy("429s")
        await server.stop()
    }

    /// `/health` is 503 until the models are loaded, and model routes answer 503 in their API's
    /// error shape. The model's weights file is a FIFO, so loading blocks (in `open`) until the test
    /// opens its other end: a load that is deterministically not done. Then the load fails (a FIFO
    /// is not a weights file) and `run` ends with that error.
    @Test func healthIs503WhileLoading() async throws {
        let (folder, fifo) = try blockingModelFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let server = try await TestServer.start(["slow=\(folder)"], waitUntilReady: false)
        // Whatever happens, let the loader go (O_RDWR never blocks and counts as a writer).
        var release: Int32 = -1
        defer { if release < 0 { release = open(fifo, O_RDWR | O_NONBLOCK) }; close(release) }

        let health = try await server.get("/health")
        expectTEIError(health, 503, "Unhealthy", "/health while loading")
        expectTEIError(try await server.post("/embed", json: #"{"inputs": "a"}"#), 503, "Unhealthy", "/embed while loading")
        expectTEIError(try await server.get("/info"), 503, "Unhealthy", "/info while loading")
        expectOpenAIError(try await server.post("/v1/embeddings", json: #"{"input": "a"}"#), 503, type: "server_error", code: "service_unavailable",
                          "/v1/embeddings while loading")
        expectOpenAIError(try await server.get("/v1/models"), 503, type: "server_error", code: "service_unavailable", "/v1/models while loading")
        #expect(try await server.get("/metrics").status == 200, "/metrics answers while loading")
        #expect(try await server.get("/health").status == 503, "still loading")

        release = open(fifo, O_RDWR | O_NONBLOCK)
        #expect(release >= 0)
        switch await server.outcome {
        case .success: Issue.record("run returned normally though the model could not load")
        case .failure(let error): #expect("\(error)".contains("not a regular file"), "\(error)")
        }
        #expect(throws: HTTPClientError.self, "the port is closed once run has ended") { try RawHTTP.openConnection(port: server.port) }
    }
    /// A request that waited in the queue longer than `requestTimeout` is answered 503 unrun. The
    /// first request of a batch always waits `batchWait` (300 ms) for companions, longer than the
    /// 50 ms timeout: deterministic.
    @Test func requestTimeoutIs503() async throws {
        let server = try await TestServer.start([served("st-bert-mean")]) {
            $0.batchWait = .milliseconds(300)
            $0.requestTimeout = .milliseconds(50)
        }
        expectTEIError(try await server.post("/embed", json: #"{"inputs": "late"}"#), 503, "Unhealthy", "timed out on /embed")
        expectOpenAIError(try await server.post("/v1/embeddings", json: #"{"input": "late"}"#), 503, type: "server_error", code: "service_unavailable",
                          "timed out on /v1/embeddings")
        try await server.expectHealthy("503 timeouts")
        await server.stop()
    }

    /// OpenAI's transcription clients often send `language=en`. whisper-gen is an English-only
    /// checkpoint, and the library refuses a language for it (as `mmattn transcribe --language en`
    /// does): the client's error, a 422 in OpenAI's error shape, counted in the metrics like every answer.
    @Test func transcriptionRefusedByTheModelIs422() async throws {
        let server = try await TestServer.start([served("whisper-gen")])
        let reply = try await server.post("/v1/audio/transcriptions", form: [try .file(Paths.fixture("audio/cards-001.wav"), contentType: "audio/wav"),
                                                                             .field("model", "whisper-1"), .field("language", "fr")])
        expectOpenAIError(reply, 422, "language fr for an English-only checkpoint")
        // language=en, which OpenAI's clients often send, is what an English-only checkpoint does anyway.
        let english = try await server.post("/v1/audio/transcriptions", form: [try .file(Paths.fixture("audio/cards-001.wav"), contentType: "audio/wav"),
                                                                               .field("model", "whisper-1"), .field("language", "en")])
        #expect(english.status == 200, "language en for an English-only checkpoint: \(english.text)")
        let metrics = try await server.metrics()
        let answered = metrics.filter { $0.0.hasPrefix("mmattn_requests_total{") && $0.0.contains(#"route="/v1/audio/transcriptions""#) }
        #expect(answered.map(\.1).reduce(0, +) == 2, "both answers are counted in mmattn_requests_total: \(answered)")
        try await server.expectHealthy("a refused transcription")
        await server.stop()
    }
}

// MARK: - Starting: bind, then load

@Suite struct ServerStartTests {
    /// A listening socket on a free loopback port, and the port: the port is taken while it is open.
    static func takePort() throws -> (socket: Int32, port: Int) {
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, length) == 0 && listen(taken, 1) == 0 && getsockname(taken, $0, &length) == 0 }
        }
        guard bound else { close(taken); throw POSIXError(.EADDRINUSE) }
        return (taken, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// `run` "binds first and loads the models after" (its documentation): on a port that is
    /// taken it throws the bind error without reading any model. The model's weights are a FIFO: a
    /// loader started anyway blocks in `open` on it, and `run` cannot end until it is released. A
    /// watchdog releases it after 10 s so that this fails the test instead of hanging it (the
    /// bound only matters when the server is wrong: a right one throws at once).
    @Test func bindFailsBeforeAnyModelIsRead() async throws {
        let (folder, fifo) = try blockingModelFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (taken, port) = try Self.takePort()
        defer { close(taken) }

        let server = try MMAttnServer(configuration: ServerConfiguration(models: [ModelSpec(name: "slow", source: folder)], host: "127.0.0.1", port: port))
        let run = Task { try await server.run(handlingSignals: false) }
        let watchdog = Task { () -> Int32 in
            try await Task.sleep(for: .seconds(10))
            return open(fifo, O_RDWR | O_NONBLOCK)
        }
        let result = await run.result
        watchdog.cancel()
        if case .success(let fd) = await watchdog.result {
            close(fd)
            Issue.record("run did not end until the model's weights were released: it started loading the model although the port was taken")
        }
        switch result {
        case .success: Issue.record("run returned normally on a taken port")
        case .failure(let error): #expect(!"\(error)".contains("regular file"), "the error is the bind's, not the model's: \(error)")
        }
    }

    /// The same seen from `mmattn serve`: on a taken port it must fail without saying "ready" (a
    /// script waiting for that line would take the server for up) and without loading models.
    @Test func serveOnATakenPortNeverSaysReady() async throws {
        let (taken, port) = try Self.takePort()
        defer { close(taken) }
        let r = try await runCLI(["serve", "--model", Paths.model("st-bert-mean"), "--port", String(port)])
        CLI.expectRejected(r, outputDir: nil, "serve on a taken port")
        #expect(r.stderr.contains("Address already in use"), "\(r.stderr)")
        #expect(!r.stderr.contains("mmattn serve: ready"), "it said ready though it never listened: \(r.stderr)")
    }
}

// MARK: - The binary: SIGTERM drains

@Suite struct ServerShutdownTests {
    /// `mmattn serve` on a free port: transcriptions in flight when SIGTERM comes (one running, one
    /// waiting in the model's queue behind it) are both answered 200, then the process exits 0, and
    /// the port refuses connections.
    @Test func sigtermDrainsRequestsInFlight() async throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let temporary = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let child = try CLI.Child([CLI.executable, "serve", "--model", "whisper-gen=" + Paths.model("whisper-gen"), "--port", "0"],
                                  environment: CLI.isolatedHub.merging(["TMPDIR": temporary]) { $1 },
                                  stdout: dir + "/stdout", stderr: dir + "/stderr")
        var ended = false
        defer { if !ended { kill(child.pid, SIGKILL); _ = child.wait() } }
        func log() -> String { (try? String(contentsOfFile: dir + "/stderr", encoding: .utf8)) ?? "" }

        var port: Int?
        for _ in 0..<6000 {  // 300 s at most: a debug build on a busy machine loads slowly
            let text = log()
            if port == nil, let range = text.range(of: "listening on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            if text.contains("mmattn serve: ready") || child.poll() != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(child.poll() == nil && log().contains("mmattn serve: ready (whisper-gen)"), "not ready: \(log())")
        let p = try #require(port, "no port in: \(log())")
        let uploads = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        #expect(uploads.count == 1 && uploads.allSatisfy { $0.hasPrefix("mmattn-serve-") }, "the uploads folder in TMPDIR: \(uploads)")

        // Two transcriptions of a 42 s clip at once: the model takes one at a time, so while the
        // first runs the second waits in the queue, where mmattn_queue_depth shows it. SIGTERM is
        // sent only once that is seen: both requests are then in the server's hands, never before
        // it has read them.
        let clip = Paths.fixture("audio/derived/speech-mix.flac")
        let body = FormPart.body([try .file(clip, contentType: "audio/flac"), .field("model", "whisper-1"), .field("response_format", "json")])
        let request = RawHTTP.request("POST", "/v1/audio/transcriptions", port: p,
                                      headers: [("Content-Type", "multipart/form-data; boundary=\(FormPart.boundary)")], body: body)
        let first = Task { try await RawHTTP.exchange(port: p, request) }
        let second = Task { try await RawHTTP.exchange(port: p, request) }
        var queued = false, finished = false
        for _ in 0..<6000 where !queued && !finished {  // a bound, in case both requests failed at once
            let metrics = Metrics.parse(try await RawHTTP.exchange(port: p, RawHTTP.request("GET", "/metrics", port: p)).text)
            queued = Metrics.value(metrics, "mmattn_queue_depth", ["transcriptions"]) == 1
            finished = Metrics.value(metrics, "mmattn_batch_size_count", ["transcriptions"]) == 2
            if !queued { try await Task.sleep(for: .milliseconds(5)) }
        }
        try #require(queued, "both transcriptions finished before the second was seen waiting")
        #expect(kill(child.pid, SIGTERM) == 0)

        let replies = [try await first.value, try await second.value]
        for reply in replies {
            #expect(reply.status == 200, "a request in flight is answered: \(reply.status) \(reply.text.prefix(300))")
        }
        let texts = try replies.map { try #require(try $0.json()["text"]?.string) }
        #expect(texts[0] == texts[1] && !texts[0].isEmpty)
        var end: (status: Int32, signaled: Bool)?
        for _ in 0..<6000 where end == nil {  // 300 s at most
            end = child.poll()
            if end == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        ended = end != nil
        let status = try #require(end, "mmattn serve did not exit after SIGTERM: \(log())")
        #expect(!status.signaled && status.status == 0, "exit \(status): \(log())")
        #expect(log().contains("mmattn serve: stopped"))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        #expect(left.isEmpty, "the uploads folder is removed at exit: \(left)")
        do {
            _ = try RawHTTP.openConnection(port: p)
            Issue.record("a connection after the exit was accepted")
        } catch let error as HTTPClientError {
            #expect(error.connectErrno == ECONNREFUSED, "\(error)")
        }
    }
}
