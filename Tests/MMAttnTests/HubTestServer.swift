import Foundation
@testable import MMAttnHub

/// A Hugging Face Hub stand-in on 127.0.0.1 for the download tests: HTTP/1.1 over POSIX sockets, one
/// thread per connection, `Connection: close`. It serves model folders under repo ids with the Hub's
/// URL scheme and headers:
/// - `GET /api/models/{repo}/revision/{rev}`: `{"id", "sha", "siblings": [{"rfilename"}]}`;
/// - `HEAD`/`GET /{repo}/resolve/{rev}/{file}`: regular files answer 200 with `ETag` (the git blob
///   SHA-1), `X-Repo-Commit` and `Content-Length`; "LFS" files (weights) answer 302 to
///   `http://localhost:{port}/lfs/{sha256}` (another origin, as the Hub's storage host is) with
///   `X-Linked-Etag` (the SHA-256), `X-Linked-Size` and `X-Repo-Commit`;
/// - `Range: bytes=N-` answers 206 with `Content-Range`;
/// - a private repo answers 401 without `Authorization: Bearer <its token>`; unknown repos,
///   revisions and files answer 404 with the Hub's `X-Error-Code`.
/// Faults: cut the connection after N body bytes once (`cutOnce`), or corrupt a file's bytes (`corrupt`).
final class HubTestServer: @unchecked Sendable {
    // @unchecked: all mutable state is behind `lock`.
    struct File {
        let data: Data
        let lfs: Bool
        let etag: String
    }
    struct Repo {
        let commit: String
        let files: [String: File]
        let token: String?
    }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var repos: [String: Repo] = [:]
    private var blobs: [String: Data] = [:]
    private var log: [String] = []
    private var cut: (file: String, after: Int)?
    private var corrupted: Set<String> = []
    private var stopped = false
    private let acceptDone = DispatchSemaphore(value: 0)

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        listener = fd
        port = UInt16(bigEndian: addr.sin_port)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// The endpoint to put in HF_ENDPOINT.
    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Serve `folder`'s files (recursively) as `repo` at one commit; `token` makes it private.
    @discardableResult
    func serve(_ folder: String, as repo: String, token: String? = nil) throws -> String {
        var files: [String: File] = [:]
        let names = FileManager.default.enumerator(atPath: folder)!.compactMap { $0 as? String }
        for name in names.sorted() {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(folder)/\(name)", isDirectory: &isDir), isDir.boolValue { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name)"), options: .alwaysMapped)
            let lfs = [".safetensors", ".bin", ".pt", ".h5", ".msgpack", ".onnx"].contains { name.hasSuffix($0) }
            var etag: String
            if lfs {
                var h = SHA256(); data.withUnsafeBytes { h.update($0) }; etag = h.finish()
            } else {
                var h = SHA1.gitBlob(size: data.count); data.withUnsafeBytes { h.update($0) }; etag = h.finish()
            }
            files[name] = File(data: data, lfs: lfs, etag: etag)
        }
        var h = SHA1()
        Array("\(repo) \(files.keys.sorted()) \(files.values.map(\.etag).sorted())".utf8).withUnsafeBytes { h.update($0) }
        let commit = h.finish()
        lock.withLock {
            repos[repo] = Repo(commit: commit, files: files, token: token)
            for f in files.values where f.lfs { blobs[f.etag] = f.data }
        }
        return commit
    }

    /// The next transfer of `file`'s body stops after `bytes` bytes (the connection is closed).
    func cutOnce(_ file: String, after bytes: Int) { lock.withLock { cut = (file, bytes) } }

    /// `file`'s bytes are served with one byte changed (its etag stays).
    func corrupt(_ file: String) { lock.withLock { _ = corrupted.insert(file) } }

    /// Request lines seen so far, marked when they carried credentials and with their Range header:
    /// `GET /x Authorization Range=bytes=5-`.
    var requests: [String] { lock.withLock { log } }

    /// Close the listening socket: later connections are refused.
    func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard wasRunning else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        acceptDone.wait()
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                break
            }
            Thread.detachNewThread { [self] in handle(fd) }
        }
        acceptDone.signal()
    }

    // MARK: requests

    private func handle(_ fd: Int32) {
        defer { close(fd) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !buffer.suffix(4).elementsEqual([13, 10, 13, 10]) {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0, buffer.count < 65536 else { return }
            buffer += chunk[0..<n]
            if let r = buffer.firstRange(of: [13, 10, 13, 10]) { buffer = Array(buffer[..<r.upperBound]); break }
        }
        let lines = String(decoding: buffer, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        let method = String(parts[0]), target = String(parts[1])
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let entry = "\(method) \(target)" + (headers["authorization"] != nil ? " Authorization" : "")
            + (headers["range"].map { " Range=\($0)" } ?? "")
        lock.withLock { log.append(entry) }
        let response = route(method, target, headers)
        send(fd, response, method: method, headers: headers)
    }

    struct Response {
        var status: Int
        var headers: [String: String] = [:]
        var body = Data()
        /// The file name for fault injection.
        var file: String?
        var ranged = true
    }

    private func error(_ status: Int, _ code: String) -> Response {
        Response(status: status, headers: ["X-Error-Code": code, "Content-Type": "application/json"],
                 body: Data("{\"error\": \"\(code)\"}".utf8), ranged: false)
    }

    private func route(_ method: String, _ target: String, _ headers: [String: String]) -> Response {
        let path = target.split(separator: "?").first.map(String.init) ?? target
        if path.hasPrefix("/lfs/") {
            guard let data = lock.withLock({ blobs[String(path.dropFirst(5))] }) else { return error(404, "EntryNotFound") }
            return Response(status: 200, headers: ["ETag": "\"\(path.dropFirst(5))\""], body: data, file: lfsName(String(path.dropFirst(5))))
        }
        let api = "/api/models/"
        if path.hasPrefix(api), let r = path.range(of: "/revision/") {
            let repoName = String(path[path.index(path.startIndex, offsetBy: api.count)..<r.lowerBound])
            let revision = String(path[r.upperBound...]).removingPercentEncoding ?? ""
            return withRepo(repoName, revision, headers) { repo in
                let siblings = repo.files.keys.sorted().map { "{\"rfilename\": \"\($0)\"}" }.joined(separator: ", ")
                return Response(status: 200, headers: ["Content-Type": "application/json"],
                                body: Data("{\"id\": \"\(repoName)\", \"sha\": \"\(repo.commit)\", \"siblings\": [\(siblings)]}".utf8), ranged: false)
            }
        }
        guard let r = path.range(of: "/resolve/") else { return error(404, "RepoNotFound") }
        let repoName = String(path[path.index(after: path.startIndex)..<r.lowerBound])
        let rest = path[r.upperBound...].split(separator: "/", maxSplits: 1).map(String.init)
        guard rest.count == 2 else { return error(404, "EntryNotFound") }
        let revision = rest[0].removingPercentEncoding ?? rest[0], fileName = rest[1].removingPercentEncoding ?? rest[1]
        return withRepo(repoName, revision, headers) { repo in
            guard let file = repo.files[fileName] else {
                var e = error(404, "EntryNotFound")
                e.headers["X-Repo-Commit"] = repo.commit
                return e
            }
            if file.lfs {
                return Response(status: 302, headers: [
                    "Location": "http://localhost:\(port)/lfs/\(file.etag)", "X-Repo-Commit": repo.commit,
                    "X-Linked-Etag": "\"\(file.etag)\"", "X-Linked-Size": "\(file.data.count)", "ETag": "W/\"redirect\"",
                ], ranged: false)
            }
            return Response(status: 200, headers: ["ETag": "\"\(file.etag)\"", "X-Repo-Commit": repo.commit],
                            body: file.data, file: fileName)
        }
    }

    private func lfsName(_ sha: String) -> String? {
        lock.withLock { repos.values.lazy.compactMap { $0.files.first { $0.value.etag == sha }?.key }.first }
    }

    private func withRepo(_ name: String, _ revision: String, _ headers: [String: String], _ body: (Repo) -> Response) -> Response {
        guard let repo = lock.withLock({ repos[name] }) else { return error(404, "RepoNotFound") }
        if let token = repo.token, headers["authorization"] != "Bearer \(token)" { return error(401, "RepoNotFound") }
        guard revision == "main" || revision == repo.commit else { return error(404, "RevisionNotFound") }
        return body(repo)
    }

    private func send(_ fd: Int32, _ response: Response, method: String, headers: [String: String]) {
        var r = response
        var body = r.body
        var status = r.status
        if r.ranged, let range = headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
           let start = Int(range.dropFirst(6).dropLast()) {
            if start >= body.count {
                status = 416
                r.headers["Content-Range"] = "bytes */\(body.count)"
                body = Data()
            } else {
                status = 206
                r.headers["Content-Range"] = "bytes \(start)-\(body.count - 1)/\(body.count)"
                body = body.subdata(in: start..<body.count)
            }
        }
        if let name = r.file, method == "GET", lock.withLock({ corrupted.contains(name) }), !body.isEmpty {
            body[body.startIndex] ^= 0xFF
        }
        var cutAfter: Int?
        if let name = r.file, method == "GET" {
            lock.withLock {
                if let c = cut, c.file == name { cutAfter = c.after; cut = nil }
            }
        }
        let reason = [200: "OK", 206: "Partial Content", 302: "Found", 401: "Unauthorized", 404: "Not Found",
                      416: "Range Not Satisfiable"][status] ?? "Status"
        var head = "HTTP/1.1 \(status) \(reason)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if r.ranged { head += "Accept-Ranges: bytes\r\n" }
        for (k, v) in r.headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        guard writeAll(fd, Data(head.utf8)), method != "HEAD" else { return }
        if let cutAfter { _ = writeAll(fd, body.prefix(cutAfter)); return }
        _ = writeAll(fd, body)
    }

    private func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, min(raw.count - offset, 1 << 20), Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
    }
}
