import Foundation
import Testing
@testable import MMAttn

/// What a user reads must be true: README's shown outputs are what the commands print, and every
/// `--help` fits 80 columns, describes every option and has examples that run as written.
@Suite struct DocumentationTests {
    /// A scratch folder that looks like the repository root to the examples (`Fixtures/...`).
    static func exampleFolder() throws -> String {
        let dir = CLI.tempDir()
        try FileManager.default.createSymbolicLink(atPath: dir + "/Fixtures", withDestinationPath: Paths.fixtures.path)
        return dir
    }

    /// The words of a command line as a shell splits it: at blanks, except inside "double" or
    /// 'single' quotes (no variables, no escapes).
    static func words(_ line: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?, inWord = false
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c); inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Text with every number replaced by a placeholder, and the numbers.
    static func split(_ text: String) -> (shape: String, numbers: [Double]) {
        let pattern = try! NSRegularExpression(pattern: #"-?\d+(\.\d+)?([eE][-+]?\d+)?"#)
        let ns = text as NSString
        var numbers: [Double] = []
        for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            numbers.append(Double(ns.substring(with: m.range)) ?? .nan)
        }
        return (pattern.stringByReplacingMatches(in: text, range: NSRange(location: 0, length: ns.length), withTemplate: "#"), numbers)
    }

    /// The `$ mmattn ...` commands of README.md's code blocks, each with the output shown under it.
    static func readmeExamples() throws -> [(command: String, output: String)] {
        let text = try String(contentsOf: Paths.repo.appendingPathComponent("README.md"), encoding: .utf8)
        var examples: [(String, String)] = []
        var inBlock = false
        var current: (String, [String])?
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("```") {
                if let c = current { examples.append((c.0, c.1.joined(separator: "\n"))) }
                current = nil
                inBlock.toggle()
                continue
            }
            guard inBlock else { continue }
            if line.hasPrefix("$ ") {
                if let c = current { examples.append((c.0, c.1.joined(separator: "\n"))) }
                current = (String(line.dropFirst(2)), [])
            } else if current != nil {
                current!.1.append(line)
            }
        }
        return examples
    }

    @Test func readmeShowsWhatTheCommandsPrint() throws {
        let examples = try Self.readmeExamples()
        #expect(examples.count >= 6, "README lost its examples")
        let dir = try Self.exampleFolder()
        for (command, shown) in examples {
            let words = Self.words(command)
            try #require(words.first == "mmattn", "README example does not start with mmattn: \(command)")
            let r = try CLI.run(Array(words.dropFirst()), directory: dir)
            #expect(r.status == 0, "\(command): \(r.stderr)")
            let printed = (r.stdout + r.stderr).trimmingCharacters(in: .newlines)
            let (a, x) = Self.split(printed), (b, y) = Self.split(shown.trimmingCharacters(in: .newlines))
            #expect(a == b, "README shows for `\(command)`:\n\(shown)\nbut the command prints:\n\(printed)")
            // Scores may differ in their last digits between machines (summation order).
            let close = x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }
            #expect(close, "README numbers for `\(command)`: shown \(y), printed \(x)")
        }
    }

    /// Every command's help, by its words after `mmattn`.
    static let commands = [["classify-image"], ["embed-image"], ["embed-audio"], ["classify-audio"], ["embed-protein"],
                           ["embed-text"], ["tokenize"], ["inspect"], ["bench"], ["bench", "gemm"], ["bench", "attention"],
                           ["bench", "image"], ["bench", "audio"], ["bench", "protein"], ["bench", "text"], ["bench", "tokenize"]]

    @Test(arguments: commands)
    func helpFitsAndDescribesEveryOption(command: [String]) throws {
        let r = try CLI.run(command + ["--help"])
        #expect(r.status == 0)
        let lines = r.stdout.components(separatedBy: "\n")
        for line in lines { #expect(line.count <= 80, "\(command) --help: \(line.count) columns: \(line)") }
        #expect(!r.stdout.contains("(default -") && !r.stdout.contains("(default "), "defaults are written by hand too")
        // Each option or argument line has a description, on the same line or the next.
        var section = ""
        for (i, line) in lines.enumerated() {
            if line.hasSuffix(":") && !line.hasPrefix(" ") { section = line }
            guard section == "OPTIONS:" || section == "ARGUMENTS:", line.hasPrefix("  ") && !line.hasPrefix("   ") else { continue }
            let sameLine = line.dropFirst(2).range(of: "  ").map { !line[$0.upperBound...].trimmingCharacters(in: .whitespaces).isEmpty } ?? false
            let nextLine = i + 1 < lines.count && lines[i + 1].hasPrefix("      ")
            #expect(sameLine || nextLine, "\(command) --help: no description for \(line)")
        }
    }

    /// The examples of a help text: lines starting with `mmattn`, joined over trailing backslashes.
    static func helpExamples(_ help: String) -> [String] {
        var examples: [String] = []
        var pending: String?
        for raw in help.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if var p = pending {
                p += " " + line
                pending = nil
                if p.hasSuffix("\\") { pending = String(p.dropLast()) } else { examples.append(p) }
                continue
            }
            guard line.hasPrefix("mmattn ") else { continue }
            if line.hasSuffix("\\") { pending = String(line.dropLast()) } else { examples.append(line) }
        }
        return examples
    }

    @Test(arguments: commands.filter { $0.first != "bench" })
    func helpExamplesRunAsWritten(command: [String]) throws {
        let help = try CLI.run(command + ["--help"]).stdout
        let examples = Self.helpExamples(help)
        // Examples on the repository's fixtures run; those naming a Hub id need the Hub and a download.
        let local = examples.filter { $0.contains("Fixtures/") }
        #expect(!local.isEmpty, "\(command) --help has no example that runs from the repository root")
        #expect(examples.count > local.count, "\(command) --help has no Hub-id example")
        let dir = try Self.exampleFolder()
        for example in local {
            let r = try CLI.run(Array(Self.words(example).dropFirst()), directory: dir)
            #expect(r.status == 0, "`\(example)` failed: \(r.stderr)")
        }
    }
}
