import Foundation
import Testing
@testable import MMAttn

/// What a user reads must be true: README's shown outputs are what the commands print, and every
/// `--help` fits 80 columns, describes every option and has examples that run as written.
@Suite struct DocumentationTests {
    /// A scratch folder that looks like the repository root to the examples (`Fixtures/...`), with
    /// fixture files standing in for the inputs of a user's own that the Hub-id examples name.
    static func exampleFolder() throws -> String {
        let dir = CLI.tempDir()
        try FileManager.default.createSymbolicLink(atPath: dir + "/Fixtures", withDestinationPath: Paths.fixtures.path)
        for (name, fixture) in exampleInputs {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: Paths.fixture(fixture))
        }
        return dir
    }

    static let exampleInputs = ["cat.png": "images/cat.png", "clip.wav": "audio/arctic_a0007.wav", "bell.wav": "audio/cards-001.wav",
                                "seqs.fasta": "protein/LuxC.faa", "notes.txt": "text/corpus.txt",
                                "clip.mp4": "video/pan.mp4"]

    /// The Hub ids the examples name (the commands' defaults among them), served by a local Hub
    /// stand-in from the tiny fixture models of the same families.
    static let exampleModels = ["google/vit-base-patch16-224": "vit", "openai/whisper-base": "whisper", "openai/whisper-tiny.en": "whisper-gen",
                                "MIT/ast-finetuned-audioset-10-10-0.4593": "ast", "facebook/esm2_t33_650M_UR50D": "esm2",
                                "facebook/esm2_t6_8M_UR50D": "esm2", "sentence-transformers/all-MiniLM-L6-v2": "st-bert-mean",
                                "bert-base-uncased": "bert", "MCG-NJU/videomae-base-finetuned-kinetics": "videomae",
                                "facebook/timesformer-base-finetuned-k400": "timesformer"]

    /// A Hub stand-in serving `exampleModels`, and the environment that points the command at it
    /// with an empty cache.
    static func exampleHub() throws -> (HubTestServer, [String: String]) {
        let server = try HubTestServer()
        for (id, fixture) in exampleModels { _ = try server.serve(Paths.model(fixture), as: id) }
        return (server, HubTests.environment(server))
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
    static let commands = [["classify-image"], ["attention"], ["embed-image"], ["embed-audio"], ["classify-audio"], ["embed-protein"],
                           ["embed-text"], ["tokenize"], ["classify-video"], ["embed-video"], ["transcribe"], ["inspect"], ["bench"], ["bench", "gemm"], ["bench", "attention"],
                           ["bench", "image"], ["bench", "audio"], ["bench", "protein"], ["bench", "text"], ["bench", "tokenize"],
                           ["bench", "model"], ["bench", "video"], ["bench", "transcribe"], ["download"], ["models"], ["merge"], ["serve"]]

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

    // serve's examples start servers that run until stopped; ServerTests runs the server.
    @Test(arguments: commands.filter { $0.first != "bench" && $0.first != "serve" })
    func helpExamplesRunAsWritten(command: [String]) throws {
        let help = try CLI.run(command + ["--help"]).stdout
        let examples = Self.helpExamples(help)
        #expect(!examples.isEmpty, "\(command) --help has no example")
        if !["download", "models", "merge"].contains(command[0]) {
            // A model command shows both: a model folder of the repository, and a Hub id.
            #expect(examples.contains { $0.contains("--model Fixtures/") }, "\(command) --help has no example with a model folder")
            #expect(examples.contains { $0.contains("--model") && !$0.contains("--model Fixtures/") },
                    "\(command) --help has no Hub-id example")
        }
        // Every example runs; Hub ids (and the defaults) come from the local stand-in, into an empty cache.
        let (server, environment) = try Self.exampleHub()
        defer { server.stop() }
        let dir = try Self.exampleFolder()
        for example in examples {
            let r = try CLI.run(Array(Self.words(example).dropFirst()), timeout: 120, environment: environment, directory: dir)
            #expect(r.status == 0, "`\(example)` failed: \(r.stderr)")
        }
    }
}
