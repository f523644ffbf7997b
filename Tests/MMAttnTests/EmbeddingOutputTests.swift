import Foundation
import Testing
@testable import MMAttn

/// Embedding commands without `--output`: one summary line per input, or with `--json` the
/// vectors in the documented object, equal to what the library computes.
@Suite struct EmbeddingOutputTests {
    /// The `results` of a `--json` run: (input, shape, flattened embedding) each.
    static func results(_ r: CLI.Result, model: String) throws -> [(input: String, shape: [Int], values: [Float])] {
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        #expect(json.object?["model"]?.string == model)
        let items = try #require(json.object?["results"]?.array)
        func flatten(_ v: JSON) -> [Float] { v.array.map { $0.flatMap(flatten) } ?? [Float(v.double ?? .nan)] }
        return try items.map { item in
            let o = try #require(item.object)
            return (try #require(o["input"]?.string), try #require(o["shape"]?.array).compactMap(\.int),
                    flatten(try #require(o["embedding"])))
        }
    }

    @Test func embedImagePrintsOrGivesJSON() throws {
        let images = ["cat", "camera"].map { Paths.fixture("images/\($0).png") }
        let model = Paths.model("vit")
        let plain = try CLI.run(["embed-image"] + images + ["--model", model])
        #expect(plain.status == 0, "\(plain.stderr)")
        let lines = plain.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix(images[0] + "  [32]  [") && lines[1].hasPrefix(images[1]))

        let encoder = try ImageEncoder(model: model)
        let printed = try Self.results(try CLI.run(["embed-image"] + images + ["--model", model, "--json"]), model: model)
        #expect(printed.map(\.input) == images)
        // The command embeds both images in one packed batch, as embed(paths:) does.
        let batch = try encoder.embed(paths: images, pooling: .cls)
        for (item, (path, expected)) in zip(printed, batch.items) {
            #expect(path == item.input)
            #expect(item.shape == expected.shape)
            #expect(item.values == Array(UnsafeBufferPointer(start: expected.pointer, count: expected.count)), "JSON numbers round-trip exactly")
        }
    }

    @Test func embedAudioJSONHoldsTheWholeHiddenState() throws {
        let clip = Paths.fixture("audio/arctic_a0007.wav")
        let model = Paths.model("ast")
        let printed = try Self.results(try CLI.run(["embed-audio", clip, "--model", model, "--pooling", "none", "--json"]), model: model)
        let expected = try AudioEncoder(model: model).embed(path: clip, pooling: Pooling.none)
        #expect(printed.count == 1 && printed[0].shape == expected.shape && printed[0].shape.count == 2)
        #expect(printed.first?.values == Array(UnsafeBufferPointer(start: expected.pointer, count: expected.count)))
    }

    @Test func embedProteinPrintsTheMeansOfTheLastLayer() throws {
        let fasta = Paths.fixture("protein/LuxC.faa")
        let model = Paths.model("esm2")
        let plain = try CLI.run(["embed-protein", fasta, "--model", model, "--quiet"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.split(separator: "\n").count == 12)
        #expect(plain.stdout.hasPrefix("sp|P19841|LUXC_PHOPO  [32]  ["))

        let printed = try Self.results(try CLI.run(["embed-protein", fasta, "--model", model, "--json", "--quiet"]), model: model)
        let means = try reference("esm2/mean.npy")  // [12, 32] from fair-esm
        #expect(printed.count == 12 && printed.allSatisfy { $0.shape == [32] })
        let worst = printed.enumerated().map { i, item in
            zip(item.values, (0..<32).map { means.pointer[i * 32 + $0] }).map { abs($0 - $1) }.max() ?? .infinity
        }.max() ?? .infinity
        #expect(worst < 2e-5, "largest difference from fair-esm's means: \(worst)")  // measured 1.7e-6 through --output
    }

    @Test func jsonAndOutputExcludeEachOther() throws {
        let dir = CLI.tempDir()
        for args in [["embed-image", Paths.fixture("images/cat.png"), "--model", Paths.model("vit")],
                     ["embed-audio", Paths.fixture("audio/arctic_a0007.wav"), "--model", Paths.model("whisper")],
                     ["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2")],
                     ["embed-text", "a text", "--model", Paths.model("bert")]] {
            let r = try CLI.run(args + ["--json", "--output", dir + "/x.npy"])
            #expect(r.status == 64, "\(args[0]): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        let kinds = try CLI.run(["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2"), "--include", "per-token"])
        #expect(kinds.status == 64 && kinds.stderr.contains(".safetensors"), "\(kinds.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
