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

/// Warnings go to stderr (never stdout: `--json` output must stay clean). Tests may replace the sink.
public enum Diagnostics {
    nonisolated(unsafe) public static var warn: (String) -> Void = { message in
        FileHandle.standardError.write(("warning: " + message + "\n").data(using: .utf8)!)
    }
}

import Foundation
