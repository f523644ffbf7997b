import Foundation
import MMAttn
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One blob: GET into `blobs/<etag>.incomplete` (continuing a partial file with `Range`), hashing
/// while the bytes arrive, then verified against the etag, flushed and renamed to `blobs/<etag>`.
/// Runs under the blob's lock. A failed check removes the partial file; a network failure or a full
/// disk keeps it, so the next run resumes.
final class BlobDownload: @unchecked Sendable {
    // @unchecked: the body callback runs on the HTTP client's delegate queue while the thread that
    // started the request waits for it to finish; the state is never touched from two threads at once.
    let session: HubSession
    let file: String
    let meta: HubSession.FileMetadata
    let blob: String
    let partial: String
    private var fd: Int32 = -1
    /// Bytes received (and hashed) so far: the `onDisk` bytes of the partial file, then `staged` more.
    private var written: Int64 = 0
    private var onDisk: Int64 = 0
    /// Writes go out in large pieces: a system call per network read costs more than the copy.
    private let stage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 << 20, alignment: 64)
    private var staged = 0
    /// `onDisk` when the last background flush was started.
    private var syncRequested: Int64 = 0
    private let syncQueue = DispatchQueue(label: "mmattn.blob-flush")
    private var total: Int64?
    private var verifier = Verifier.none
    /// The etag's length when it is lowercase hex (64: a SHA-256, 40: a git blob SHA-1), else 0.
    private let etagKind: Int

    init(session: HubSession, file: String, meta: HubSession.FileMetadata, blob: String) {
        self.session = session
        self.file = file
        self.meta = meta
        self.blob = blob
        self.partial = blob + ".incomplete"
        self.total = meta.size
        let hex = meta.etag.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        etagKind = hex ? meta.etag.utf8.count : 0
    }

    deinit { stage.deallocate() }

    /// What the etag lets us check: LFS files are named by their SHA-256, regular git files by
    /// their git blob SHA-1. Any other etag (a mirror's own) is checked by size only.
    enum Verifier {
        case none
        case sha256(SHA256)
        case gitSHA1(SHA1)

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            switch self {
            case .none: break
            // `self = .none` first, so the hasher's buffer has one owner and is not copied on write.
            case .sha256(var h): self = .none; h.update(bytes); self = .sha256(h)
            case .gitSHA1(var h): self = .none; h.update(bytes); self = .gitSHA1(h)
            }
        }

        mutating func digest() -> String? {
            switch self {
            case .none: return nil
            case .sha256(var h): return h.finish()
            case .gitSHA1(var h): return h.finish()
            }
        }
    }

    /// A fresh verifier for a file of `size` bytes (the git blob hash needs the size up front).
    private func freshVerifier(size: Int64?) -> Verifier {
        switch etagKind {
        case 64: return .sha256(SHA256())
        case 40: return size.map { .gitSHA1(SHA1.gitBlob(size: Int($0))) } ?? .none
        default: return .none
        }
    }

    func run() throws {
        fd = open(partial, O_RDWR | O_CREAT, 0o666)
        guard fd >= 0 else { throw MMAttnError("cannot create the download file: \(String(cString: strerror(errno)))", file: partial) }
        defer {
            syncQueue.sync {}  // no background flush may outlive the descriptor
            close(fd)
        }
        var st = stat()
        fstat(fd, &st)
        written = Int64(st.st_size)
        onDisk = written
        if let total, written > total { try restart() }
        try checkFreeSpace()
        try hashExistingPrefix()

        var attemptsLeft = 5
        while true {
            let before = written
            do {
                try transfer()
                try flush()
                if let total, written < total { throw NetworkFailure(url: meta.url, underlying: URLError(.networkConnectionLost)) }
                break
            } catch let failure as NetworkFailure {
                try flush()  // what arrived is kept; a full disk ends the download here, not in a retry
                if written > before { attemptsLeft = 5 }
                attemptsLeft -= 1
                guard attemptsLeft > 0 else {
                    throw MMAttnError("download interrupted (\(failure)) after \(written) bytes, kept in \(partial); "
                                      + "run `mmattn download \(session.id)` again to resume", file: "\(session.id)/\(file)")
                }
                Thread.sleep(forTimeInterval: 1)
            } catch {
                try? flush()
                throw error
            }
        }
        try finish()
    }

    /// One GET from the current offset, following redirects (credentials only within the Hub's host).
    private func transfer() throws {
        var url = meta.url
        var sameHost = meta.sameHost
        for _ in 0..<10 {
            var headers = sameHost ? session.hubHeaders() : ["User-Agent": Hub.userAgent, "Accept-Encoding": "identity"]
            let offset = written
            if offset > 0 { headers["Range"] = "bytes=\(offset)-" }
            let head = try session.http.send("GET", url, headers: headers, timeout: session.hub.downloadTimeout,
                                             accept: { [self] head in begin(head, offset: offset) }) { [self] bytes in try receive(bytes) }
            if head.isRedirect, let next = head.location {
                sameHost = sameHost && HubSession.sameOrigin(next, url)
                url = next
                continue
            }
            if head.status == 416, let total, offset == total { return }  // the partial file was already whole
            if head.status == 416 || (head.status == 206 && !rangeStarts(head, at: offset)) {
                try restart()
                throw NetworkFailure(url: url, underlying: URLError(.networkConnectionLost))
            }
            try session.check(head, file: file)
            return
        }
        throw MMAttnError("more than 10 redirects for GET \(meta.url.absoluteString)", file: "\(session.id)/\(file)")
    }

    private func rangeStarts(_ head: HTTPHead, at offset: Int64) -> Bool {
        guard let range = head.header("Content-Range") else { return false }
        return range.hasPrefix("bytes \(offset)-")
    }

    /// Called with the response head: take the body of a 200 (from the start) or a 206 that
    /// continues the partial file.
    private func begin(_ head: HTTPHead, offset: Int64) -> Bool {
        if head.status == 206, rangeStarts(head, at: offset) {
            if total == nil, let whole = head.header("Content-Range")?.split(separator: "/").last { total = Int64(whole) }
            return true
        }
        guard head.status == 200 else { return false }
        if offset > 0 {  // the server ignored Range: start over
            do { try restart() } catch { return false }
        }
        if total == nil, let length = head.header("Content-Length") { total = Int64(length) }
        if case .none = verifier { verifier = freshVerifier(size: total) }
        return true
    }

    private func receive(_ bytes: UnsafeRawBufferPointer) throws {
        if let total, written + Int64(bytes.count) > total {
            throw MMAttnError("the server sent more than the \(total) bytes it announced", file: "\(session.id)/\(file)")
        }
        verifier.update(bytes)
        var rest = bytes
        while !rest.isEmpty {
            let n = min(rest.count, stage.count - staged)
            (stage.baseAddress! + staged).copyMemory(from: rest.baseAddress!, byteCount: n)
            staged += n
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if staged == stage.count { try flush() }
        }
        written += Int64(bytes.count)
        session.report(file, bytes: written, total: total)
    }

    /// Append the staged bytes to the partial file.
    private func flush() throws {
        var p = UnsafeRawPointer(stage.baseAddress!)
        var left = staged
        while left > 0 {
            let n = pwrite(fd, p, left, off_t(onDisk))
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                staged = 0
                written = onDisk
                let kept = "the \(onDisk) bytes written are kept in \(partial) and the download resumes from them"
                switch e {
                case ENOSPC, EDQUOT:
                    throw MMAttnError("the disk is full: \(kept); free some space and run `mmattn download \(session.id)` again", file: partial)
                case EFBIG:
                    throw MMAttnError("the file size limit (ulimit -f) stops the download: \(kept); raise the limit and run "
                                      + "`mmattn download \(session.id)` again", file: partial)
                default:
                    throw MMAttnError("cannot write the download file: \(String(cString: strerror(e)))", file: partial)
                }
            }
            p += n
            left -= n
            onDisk += Int64(n)
            staged -= n
        }
        // Flush to disk in the background every 64 MB, so the fsync before the rename has little left
        // to do (measured: the final fsync of a 500 MB blob alone halved the download rate).
        if onDisk - syncRequested >= 64 << 20 {
            syncRequested = onDisk
            let fd = self.fd
            syncQueue.async { _ = fdatasync(fd) }
        }
    }

    /// Empty the partial file and start the hash again.
    private func restart() throws {
        guard ftruncate(fd, 0) == 0 else { throw MMAttnError("cannot truncate: \(String(cString: strerror(errno)))", file: partial) }
        written = 0
        onDisk = 0
        staged = 0
        syncRequested = 0
        verifier = freshVerifier(size: total)
    }

    /// A partial file left by an earlier run is hashed before its download continues.
    private func hashExistingPrefix() throws {
        verifier = freshVerifier(size: total)
        guard written > 0 else { return }
        if case .none = verifier { return }  // nothing to check, or (a git blob of unknown size) hashed whole at the end
        try readBack(upTo: written) { verifier.update($0) }
    }

    private func readBack(upTo length: Int64, _ body: (UnsafeRawBufferPointer) -> Void) throws {
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            let n = pread(fd, buffer.baseAddress, min(chunk, Int(length - offset)), off_t(offset))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw MMAttnError("cannot read back the partial download: \(String(cString: strerror(errno)))", file: partial) }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
    }

    /// Refuse to start when the disk clearly cannot hold the rest of the file.
    private func checkFreeSpace() throws {
        guard let total else { return }
        var fs = statvfs()
        guard fstatvfs(fd, &fs) == 0 else { return }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        let needed = total - written
        if needed > free {
            throw MMAttnError("needs \(needed) more bytes but the disk has \(free) free: free some space, or set HF_HOME "
                              + "or HF_HUB_CACHE to a larger disk", file: partial)
        }
    }

    /// Check size and digest, flush, and rename into place; a wrong file is deleted.
    private func finish() throws {
        let where_ = "\(session.id)/\(file)"
        if let total, written != total {
            unlink(partial)
            throw MMAttnError("received \(written) bytes but the Hub announced \(total); the partial file was deleted, try again", file: where_)
        }
        if case .none = verifier, etagKind == 40 {
            var v = SHA1.gitBlob(size: Int(written))
            try readBack(upTo: written) { v.update($0) }
            verifier = .gitSHA1(v)
        }
        if let digest = verifier.digest(), digest != meta.etag {
            unlink(partial)
            throw MMAttnError("checksum mismatch: the bytes received hash to \(digest), not to \(meta.etag) as the Hub announced; "
                              + "the partial file was deleted, try again (a proxy or mirror may be altering the file)", file: where_)
        }
        syncQueue.sync {}
        guard fsync(fd) == 0 else {
            throw MMAttnError("cannot flush the download to disk: \(String(cString: strerror(errno)))", file: partial)
        }
        guard rename(partial, blob) == 0 else {
            throw MMAttnError("cannot move the download into place: \(String(cString: strerror(errno)))", file: blob)
        }
    }
}
