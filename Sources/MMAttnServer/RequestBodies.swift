import Foundation
import Hummingbird
import MMAttn

/// Reading request bodies within the limits: JSON objects, raw uploads and multipart forms.
/// (Package-visible: the fuzz targets decode bodies through these same functions.)
package enum RequestBodies {
    /// The whole body, refused with 413 past `limit` bytes (from Content-Length before reading,
    /// else while reading); `option` names the server option that sets the limit.
    static func collect(_ request: Request, limit: Int, option: String) async throws -> ByteBuffer {
        let refusal = "this server takes bodies of at most \(limit) bytes here (its \(option))"
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw ServeError.tooLarge("the body has \(length) bytes; \(refusal)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ServeError.tooLarge("the body is larger than allowed; \(refusal)")
        }
    }

    /// The body as a JSON object (400 when it is not JSON, 422 when it is not an object).
    static func jsonObject(_ request: Request, limit: Int) async throws -> JSONObject {
        let buffer = try await collect(request, limit: limit, option: "--payload-limit")
        return try buffer.withUnsafeReadableBytes { try jsonObject($0) }
    }

    /// `bytes` as a JSON object (400 when they are not JSON, 422 when they are not an object).
    package static func jsonObject(_ bytes: UnsafeRawBufferPointer) throws -> JSONObject {
        guard bytes.count > 0 else { throw ServeError.badRequest("the body is empty; send a JSON object") }
        let json: JSON
        do {
            json = try JSON.parse(bytes)
        } catch let error as MMAttnError {
            throw ServeError.badRequest("the body is not valid JSON: \(error.message)")
        }
        guard let object = json.object else {
            throw ServeError.validation("the body must be a JSON object, not \(json.kindName)")
        }
        return object
    }

    /// One part of a `multipart/form-data` body.
    package struct Part: Sendable {
        var name: String
        var filename: String?
        var contentType: String?
        var data: Data
    }

    /// The parts of a `multipart/form-data` body (RFC 7578) whose Content-Type gives `boundary`;
    /// more than `maxParts` parts is a 422.
    package static func multipart(_ bytes: Data, contentType: String, maxParts: Int) throws -> [Part] {
        guard let boundary = parameter("boundary", of: contentType), !boundary.isEmpty, boundary.utf8.count <= 70 else {
            throw ServeError.badRequest("the multipart/form-data Content-Type gives no boundary")
        }
        let crlf = Data("\r\n".utf8), headerEnd = Data("\r\n\r\n".utf8)
        let delimiter = crlf + Data("--\(boundary)".utf8)  // a delimiter starts a line
        // The first delimiter may open the body, without the line end before it.
        var cursor: Data.Index
        if bytes.starts(with: delimiter.dropFirst(2)) {
            cursor = bytes.startIndex + delimiter.count - 2
        } else if let first = bytes.range(of: delimiter) {
            cursor = first.upperBound
        } else {
            throw ServeError.badRequest("the multipart body has no part starting with its boundary")
        }
        var parts: [Part] = []
        while true {
            // After a delimiter: "--" ends the form, CRLF starts a part.
            if bytes[cursor...].starts(with: Data("--".utf8)) { return parts }
            guard bytes[cursor...].starts(with: crlf) else {
                throw ServeError.badRequest("the multipart body ends without its closing boundary (--\(boundary)--)")
            }
            guard parts.count < maxParts else {
                throw ServeError.validation("the form has more than \(maxParts) parts")
            }
            cursor += 2
            guard let headersEnd = bytes.range(of: headerEnd, in: cursor..<bytes.endIndex) else {
                throw ServeError.badRequest("a multipart part has no blank line after its headers")
            }
            var part = Part(name: "", filename: nil, contentType: nil, data: Data())
            let headers = String(decoding: bytes[cursor..<headersEnd.lowerBound], as: UTF8.self)
            for line in headers.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if field == "content-disposition" {
                    part.name = parameter("name", of: value) ?? ""
                    part.filename = parameter("filename", of: value)
                } else if field == "content-type" {
                    part.contentType = value
                }
            }
            guard !part.name.isEmpty else { throw ServeError.badRequest("a multipart part has no Content-Disposition name") }
            let start = headersEnd.upperBound
            guard let end = bytes.range(of: delimiter, in: start..<bytes.endIndex) else {
                throw ServeError.badRequest("multipart part \"\(part.name)\" does not end with the boundary")
            }
            part.data = bytes[start..<end.lowerBound]
            parts.append(part)
            cursor = end.upperBound
        }
    }

    /// The value of `name=value` or `name="value"` in a header like Content-Type or
    /// Content-Disposition (quoted values may hold `;` and backslash escapes).
    static func parameter(_ name: String, of header: String) -> String? {
        var items: [String] = [], current = "", quoted = false, escaped = false
        for c in header {
            if escaped { current.append(c); escaped = false; continue }
            if quoted && c == "\\" { escaped = true; continue }
            if c == "\"" { quoted.toggle(); continue }
            if c == ";" && !quoted { items.append(current); current = ""; continue }
            current.append(c)
        }
        items.append(current)
        for item in items.dropFirst() {
            guard let eq = item.firstIndex(of: "=") else { continue }
            guard item[..<eq].trimmingCharacters(in: .whitespaces).lowercased() == name else { continue }
            return item[item.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}

/// Uploads the readers take by path (FASTA): saved in a private folder,
/// removed when the request is done. Errors that name the saved file name the upload instead.
final class UploadDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("mmattn-serve-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw MMAttnError("cannot make a folder for uploads in \(NSTemporaryDirectory()) (\(String(cString: strerror(errno)))); set TMPDIR")
        }
        path = String(cString: made)
    }

    /// Save `data`, run `body` with its path, remove it. `name` (the upload's file name, or
    /// "body") replaces the saved path in errors, which are the client's (422).
    func withFile<T>(_ data: Data, name: String, _ body: (String) async throws -> T) async throws -> T {
        let file = try save(data)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            return try await body(file)
        } catch let error as MMAttnError {
            throw ServeError.model(Self.renaming(error, file, to: name))
        }
    }

    private func save(_ data: Data) throws -> String {
        let file = (path as NSString).appendingPathComponent(UUID().uuidString)
        guard FileManager.default.createFile(atPath: file, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ServeError.internal("cannot save an upload in \(path): is the disk full?")
        }
        return file
    }

    private static func renaming(_ error: MMAttnError, _ file: String, to name: String) -> MMAttnError {
        MMAttnError(error.message.replacingOccurrences(of: file, with: name), file: error.file.map { $0 == file ? name : $0 })
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
