import Foundation
import Testing
@testable import MMAttn

/// End to end through the public pipelines and the CLI: file in, reference numbers out.
@Suite struct AudioPipelineTests {
    @Test func whisperMeanCoversTheAudio() throws {
        let encoder = try AudioEncoder(model: Paths.model("whisper"))
        let mean = try encoder.embed(path: Paths.fixture("audio/arctic_a0007.wav"), pooling: .mean)
        expectClose(mean, try reference("whisper/encoder_mean_covered.npy"), "mean over covered frames")
    }

    @Test func astLogitsFromTheWavFile() throws {
        let classifier = try AudioClassifier(model: Paths.model("ast"))
        let logits = try classifier.logits(path: Paths.fixture("audio/cards-001.wav"))
        expectClose(logits, try reference("ast/logits.npy"), "logits")
        #expect(classifier.multiLabel)
    }

    @Test func classifyAudioJSONFollowsTheContract() throws {
        let r = try CLI.run(["classify-audio", Paths.fixture("audio/cards-001.wav"), "--model", Paths.model("ast"), "--json", "--top-k", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        let results = try #require(json.object?["results"]?.array)
        let predictions = try #require(results.first?.object?["predictions"]?.array)
        #expect(predictions.count == 3)
        let scores = predictions.compactMap { $0.object?["score"]?.double }
        #expect(scores == scores.sorted(by: >))
        let logits = try reference("ast/logits.npy")
        #expect(predictions.first?.object?["index"]?.int == top(1, logits)[0])
    }

    @Test func whisperIsNotAClassifier() throws {
        let r = try CLI.run(["classify-audio", Paths.fixture("audio/cards-001.wav"), "--model", Paths.model("whisper")])
        CLI.expectRejected(r, outputDir: nil, "classify-audio with Whisper")
    }
}

@Suite struct ProteinPipelineTests {
    @Test func embedProteinMatchesReferenceMeans() throws {
        let dir = CLI.tempDir()
        let out = dir + "/means.npy"
        let r = try CLI.run(["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2"), "--output", out, "--toks-per-batch", "1024"])
        #expect(r.status == 0, "\(r.stderr)")
        expectClose(try NPY.read(out), try reference("esm2/mean.npy"), "means of the 12 LuxC records")
    }

    @Test func safetensorsOutputNamesEveryKindAndLayer() throws {
        let dir = CLI.tempDir()
        let out = dir + "/all.safetensors"
        let fasta = dir + "/two.fasta"
        try ">a first\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMQIFVKTLTGKTITLEV\n".write(toFile: fasta, atomically: true, encoding: .utf8)
        let r = try CLI.run(["embed-protein", fasta, "--model", Paths.model("esm2"), "--include", "mean,per-token", "--include", "bos,contacts",
                             "--repr-layers", "0", "--repr-layers", "-1", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: out)
        #expect(Set(file.names) == ["a/mean/0", "a/mean/3", "a/per-token/0", "a/per-token/3", "a/bos/0", "a/bos/3", "a/contacts",
                                    "b/mean/0", "b/mean/3", "b/per-token/0", "b/per-token/3", "b/bos/0", "b/bos/3", "b/contacts"])
        #expect(file.info("a/per-token/3")?.shape == [22, 32])
        #expect(file.info("b/contacts")?.shape == [17, 17])
    }

    @Test func npyOutputRefusesKindsItCannotHold() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", Paths.model("esm2"), "--include", "contacts", "--output", dir + "/x.npy"])
        CLI.expectRejected(r, outputDir: dir, "contacts into .npy")
    }
}
