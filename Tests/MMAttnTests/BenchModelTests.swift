import Foundation
import Testing
@testable import MMAttn

/// `bench model`: CONTRACT.md's JSON object for every family, clear refusals, and its help
/// examples running as written. Times are never checked: only that they are numbers.
@Suite struct BenchModelTests {
    /// The contract's keys, in the order the command prints them.
    static let keys = ["model", "family", "dtype", "batch", "seq", "load_ms", "forward_ms", "peak_rss_bytes"]

    /// Fixture model → the family the JSON must name, and whether the model takes `--seq`.
    static let fixtures: [(model: String, family: String, sequences: Bool)] = [
        ("vit", "vit", false), ("deit-distilled", "deit", false), ("whisper", "whisper", false), ("ast", "ast", false),
        ("esm2", "esm", true), ("bert", "bert", true), ("roberta", "roberta", true), ("distilbert", "distilbert", true),
        ("gpt2", "gpt2", true),
    ]

    /// Run `bench model` and parse its stdout: exactly one JSON object on one line.
    static func benchJSON(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONObject {
        let r = try CLI.run(["bench", "model", "--json", "--runs", "1"] + arguments, timeout: 120)
        try #require(r.status == 0, "bench model \(arguments): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.hasSuffix("}\n") && r.stdout.filter { $0 == "\n" }.count == 1,
                "stdout is not one JSON line: \(r.stdout)", sourceLocation: sourceLocation)
        let value = try JSON.parse(Data(r.stdout.utf8))
        let object = try #require(value.object, "not a JSON object: \(r.stdout)", sourceLocation: sourceLocation)
        #expect(object.keys == keys, "keys \(object.keys)", sourceLocation: sourceLocation)
        return object
    }

    @Test(arguments: fixtures.map(\.model))
    func printsTheContractObject(fixture: String) throws {
        let expected = try #require(Self.fixtures.first { $0.model == fixture })
        let path = Paths.model(fixture)
        let o = try Self.benchJSON(["--model", path])
        #expect(o["model"]?.string == path)
        #expect(o["family"]?.string == expected.family)
        #expect(o["dtype"]?.string == "f32")
        #expect(o["batch"]?.int == 1)
        if expected.sequences {
            // Defaults: 256 residues for ESM-2; 128 tokens for text, or the position table when
            // smaller (64 in these fixtures; RoBERTa's 66 positions leave 64 tokens).
            #expect(o["seq"]?.int == (fixture == "esm2" ? 256 : 64), "seq \(String(describing: o["seq"]))")
        } else {
            #expect(o["seq"]?.isNull == true, "seq must be null for image and audio models")
        }
        for key in ["load_ms", "forward_ms"] {
            let ms = try #require(o[key]?.double, "\(key) is not a number")
            #expect(ms.isFinite, "\(key) \(ms)")
        }
        let rss = try #require(o["peak_rss_bytes"]?.int, "peak_rss_bytes is not an integer")
        #expect(rss > 1 << 20, "peak_rss_bytes \(rss): the process holds at least a megabyte")
    }

    @Test func batchAndSeqAreReported() throws {
        let protein = try Self.benchJSON(["--model", Paths.model("esm2"), "--batch", "2", "--seq", "16"])
        #expect(protein["batch"]?.int == 2 && protein["seq"]?.int == 16)
        let text = try Self.benchJSON(["--model", Paths.model("gpt2"), "--batch", "3", "--seq", "64"])
        #expect(text["batch"]?.int == 3 && text["seq"]?.int == 64)
        let image = try Self.benchJSON(["--model", Paths.model("vit"), "--batch", "2", "--dtype", "f32"])
        #expect(image["batch"]?.int == 2 && image["seq"]?.isNull == true && image["dtype"]?.string == "f32")
    }

    @Test func seqOnAFixedShapeModelIsReportedAsIgnored() throws {
        let r = try CLI.run(["bench", "model", "--model", Paths.model("vit"), "--seq", "32", "--runs", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: --seq 32 is ignored"), "\(r.stderr)")
        #expect(try JSON.parse(Data(r.stdout.utf8)).object?["seq"]?.isNull == true)
    }

    @Test func unknownDtypeIsAUsageError() throws {
        // A value outside f32|bf16 is a mistake in the options themselves: exit status 64 (docs/cli.md).
        let r = try CLI.run(["bench", "model", "--model", Paths.model("bert"), "--dtype", "f16", "--json"])
        #expect(r.status == 64, "exit status \(r.status): \(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.contains("'f16'") && r.stderr.contains("f32"), "\(r.stderr)")
    }

    @Test(arguments: [("bert", "100", "at most 64 tokens"), ("gpt2", "65", "at most 64 tokens"), ("esm2", "1023", "up to 1022 residues")])
    func tooLongASeqIsRefused(fixture: String, seq: String, says: String) throws {
        let r = try CLI.run(["bench", "model", "--model", Paths.model(fixture), "--seq", seq, "--json"])
        CLI.expectRejected(r, outputDir: nil, "\(fixture) --seq \(seq)")
        #expect(r.stdout.isEmpty)
        let error = r.stderr.split(separator: "\n").first { $0.hasPrefix("error: ") } ?? ""
        #expect(error.contains("--seq \(seq)") && error.contains(says), "\(r.stderr)")
    }

    @Test(arguments: [["--batch", "0"], ["--runs", "0"], ["--seq", "0"]])
    func nonPositiveCountsAreUsageErrors(arguments: [String]) throws {
        let r = try CLI.run(["bench", "model", "--model", Paths.model("bert")] + arguments)
        #expect(r.status == 64, "\(arguments): exit status \(r.status): \(r.stderr)")
    }

    @Test func summaryForAPerson() throws {
        let r = try CLI.run(["bench", "model", "--model", Paths.model("esm2"), "--seq", "32", "--batch", "2", "--runs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        for part in ["model     \(Paths.model("esm2")) (ESM-2, f32)", "inputs    2 × 32 residues", "load ", "forward ", "median of 1",
                     "peak RSS ", " MB"] {
            #expect(r.stdout.contains(part), "no \(part) in:\n\(r.stdout)")
        }
    }

    /// The `bench model` examples of `bench model --help` and of `bench --help` (those on the
    /// repository's models; Fixtures/large is not committed), run from a folder that looks like the
    /// repository root, Hub ids served by DocumentationTests' local stand-in.
    @Test func helpExamplesRunAsWritten() throws {
        let own = DocumentationTests.helpExamples(try CLI.run(["bench", "model", "--help"]).stdout)
        #expect(own.contains { $0.contains("--model Fixtures/") } && own.contains { !$0.contains("--model Fixtures/") },
                "bench model --help needs an example with a model folder and one with a Hub id")
        let benchHelp = try CLI.run(["bench", "--help"]).stdout
            .replacingOccurrences(of: ".build/release/mmattn", with: "mmattn")
        let listed = DocumentationTests.helpExamples(benchHelp).filter { $0.hasPrefix("mmattn bench model ") }
        #expect(listed.contains { $0.contains("Fixtures/models/") }, "bench --help shows no runnable bench model example")
        let (server, environment) = try DocumentationTests.exampleHub()
        defer { server.stop() }
        let dir = try DocumentationTests.exampleFolder()
        for example in own + listed where !example.contains("Fixtures/large/") {
            let r = try CLI.run(Array(DocumentationTests.words(example).dropFirst()), timeout: 120, environment: environment, directory: dir)
            #expect(r.status == 0, "`\(example)` failed: \(r.stderr)")
        }
    }
}

/// `bench attention --json`: CONTRACT.md's object, a null naive figure where the materialising
/// kernel does not run (windows), and refused arguments. Times are only checked to be numbers.
@Suite struct BenchAttentionTests {
    @Test func jsonHasTheContractKeys() throws {
        for extra in [[String](), ["--causal"], ["--window", "4", "--kv-heads", "2"]] {
            let r = try CLI.run(["bench", "attention", "--seq", "7,129", "--heads", "4", "--head-dim", "8", "--runs", "1", "--json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let object = try #require(try JSON.parse(Data(r.stdout.utf8)).object)
            #expect(object.keys.sorted() == ["results", "sgemm_gflops"])
            #expect((object["sgemm_gflops"]?.double ?? 0) > 0)
            let results = try #require(object["results"]?.array)
            #expect(results.compactMap { $0.object?["seq"]?.int } == [7, 129])
            for result in results {
                let item = try #require(result.object)
                #expect(item.keys.sorted() == ["causal", "extra_bytes", "gflops", "ms", "naive_gflops", "seq"])
                #expect(item["causal"]?.bool == extra.contains("--causal"))
                #expect((item["ms"]?.double ?? -1) >= 0 && (item["extra_bytes"]?.int ?? 0) > 0)
                #expect((item["naive_gflops"]?.isNull ?? false) == extra.contains("--window"))
            }
        }
    }

    @Test func badArgumentsAreUsageErrors() throws {
        for args in [["--seq", "0"], ["--seq", "12,x"], ["--heads", "6", "--kv-heads", "4"], ["--window", "0"]] {
            let r = try CLI.run(["bench", "attention", "--json"] + args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
        }
    }
}
