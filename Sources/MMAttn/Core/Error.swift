import Foundation

/// The one error type of the library: a message for a person, naming the file (when there is one),
/// what is wrong with it, and what to do about it. The CLI prints it as `error: <description>`.
public struct MMAttnError: Error, CustomStringConvertible, Sendable {
    /// The file the problem is in, if any.
    public let file: String?
    /// What is wrong, and where possible what to do.
    public let message: String

    public init(_ message: String, file: String? = nil) {
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "\(file): \(message)" }
        return message
    }

    /// The same error, attributed to `file` unless it already names one.
    public func inFile(_ file: String) -> MMAttnError {
        self.file == nil ? MMAttnError(message, file: file) : self
    }
}

extension Error {
    /// Attribute any error to a file: `MMAttnError`s keep their own file if they have one.
    func attributed(to file: String) -> MMAttnError {
        if let e = self as? MMAttnError { return e.inFile(file) }
        return MMAttnError("\(self)", file: file)
    }
}

/// Warnings go to stderr (never stdout: `--json` output must stay clean). A caller that wants them
/// elsewhere (a test, a host application's log) binds a handler for its own work with `capture`.
public enum Diagnostics {
    /// A handler bound by `capture` for the work running inside it (task-local).
    @TaskLocal static var handler: (@Sendable (String) -> Void)?

    /// Report a warning: to the bound handler, else to stderr as `warning: <message>`.
    public static func warn(_ message: String) {
        if let handler { handler(message); return }
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }

    /// Run `body` with its warnings sent to `handler` instead of stderr.
    public static func capture<T>(_ handler: @escaping @Sendable (String) -> Void, _ body: () throws -> T) rethrows -> T {
        try $handler.withValue(handler, operation: body)
    }
}

/// A warning given at most once, from any thread.
final class WarnOnce: Sendable {
    private let message: String
    private let lock = NSLock()
    /// `nonisolated(unsafe)` is safe: `done` is only read and written while `lock` is held.
    nonisolated(unsafe) private var done = false

    init(_ message: String) { self.message = message }

    /// Never warn.
    func silence() { lock.withLock { done = true } }

    /// Warn, unless this warning was given or silenced before.
    func fire() {
        let first = lock.withLock { () -> Bool in
            defer { done = true }
            return !done
        }
        if first { Diagnostics.warn(message) }
    }
}
