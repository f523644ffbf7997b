import Foundation
import Testing
@testable import MMAttn

/// End to end through the public pipelines and the CLI: file in, reference numbers out.
@Suite struct AudioPipelineTests {
    @Test func whisperMeanCoversTheAudio() throws {
        let encoder = try AudioEncoder(model: Paths.model("whisper"))
        let mean = try encoder.embed(path: Paths.fixture("audio/arctic_a0007.wav"), pooling: .mean)
        // measured 4.8e-7
        expectClose(mean, try reference("whisper/encoder_mean_covered.npy"), tolerance: 5e-6, "mean over covered frames")
    }

    @Test func astLogitsFromTheWavFile() throws {
        let classifier = try AudioClassifier(model: Paths.model("ast"))
        let logits = try classifier.logits(path: Paths.fixture("audio/cards-001.wav"))
        // measured 7.7e-7
        expectClose(logits, try reference("ast/logits.npy"), tolerance: 1e-5, "logits")
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
        // measured 1.7e-6
        expectClose(try NPY.read(out), try reference("esm2/mean.npy"), tolerance: 2e-5, "means of the 12 LuxC records")
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

@Suite struct ImagePipelineTests {
    /// PNG file → libpng decode → Pillow-exact resize → normalise → ViT → logits, against transformers.
    @Test(arguments: [("vit", "cat"), ("vit", "camera"), ("vit", "horse"), ("deit", "cat"), ("deit-distilled", "cat")])
    func logitsFromThePNGFile(model: String, image: String) throws {
        let classifier = try ImageClassifier(model: Paths.model(model))
        let logits = try classifier.logits(image: try PNGImage.decode(path: Paths.fixture("images/\(image).png")))
        let expected = try reference("\(model)/\(image)_logits.npy")
        // measured 6.6e-7 (deit cat), 3.6e-7 (vit cat)
        expectClose(logits, expected, tolerance: 1e-5, "\(model) \(image) logits")
        #expect(top(5, logits) == top(5, expected))
    }

    @Test func imageSizeInterpolatesPositions() throws {
        let classifier = try ImageClassifier(model: Paths.model("vit"), imageSize: (80, 96))
        let logits = try classifier.logits(image: try PNGImage.decode(path: Paths.fixture("images/cat.png")))
        // measured 7.2e-7
        expectClose(logits, try reference("vit/cat_80x96_logits.npy"), tolerance: 1e-5, "logits at 80×96")
    }

    @Test func classifyImageJSONAndLogitsFile() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["classify-image", Paths.fixture("images/cat.png"), Paths.fixture("images/camera.png"),
                             "--model", Paths.model("vit"), "--json", "--top-k", "3", "--output", dir + "/logits.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        #expect(json.object?["model"]?.string == Paths.model("vit"))
        let results = try #require(json.object?["results"]?.array)
        #expect(results.map { $0.object?["input"]?.string } == [Paths.fixture("images/cat.png"), Paths.fixture("images/camera.png")])
        let first = try #require(results[0].object?["predictions"]?.array)
        #expect(first.count == 3)
        #expect(first[0].object?["label"]?.string != nil)
        let logits = try NPY.read(dir + "/logits.npy")
        #expect(logits.shape == [2, 10])
        // measured 3.6e-7
        expectClose(logits.rows(0..<1).reshaped([10]), try reference("vit/cat_logits.npy"), tolerance: 5e-6, "cat row of the logits file")
    }

    @Test func embedImagePoolings() throws {
        let dir = CLI.tempDir()
        for (pooling, shape) in [("cls", [32]), ("mean", [32]), ("none", [65, 32])] {
            let out = dir + "/\(pooling).npy"
            let r = try CLI.run(["embed-image", Paths.fixture("images/cat.png"), "--model", Paths.model("vit"), "--pooling", pooling, "--output", out])
            #expect(r.status == 0, "\(r.stderr)")
            let t = try NPY.read(out)
            #expect(t.shape == shape)
            // measured 1.7e-6
            if pooling == "none" { expectClose(t, try reference("vit/cat_last_hidden_state.npy"), tolerance: 2e-5, "last hidden state") }
        }
    }

    @Test func missingPreprocessorConfigFallsBackWithAWarning() throws {
        let dir = CLI.tempDir()
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Paths.model("vit") + "/" + f, toPath: dir + "/" + f)
        }
        let r = try CLI.run(["classify-image", Paths.fixture("images/cat.png"), "--model", dir, "--json"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning: ") && r.stderr.contains("preprocessor_config.json"))
    }
}

@Suite struct ModelResolutionTests {
    /// A Hub id resolves through a Hugging Face cache laid out as huggingface_hub writes it:
    /// refs/main names a snapshot whose files are symlinks into blobs/.
    @Test func hubIdResolvesThroughTheCache() throws {
        let cache = CLI.tempDir()
        let repo = cache + "/models--tiny--vit"
        let fm = FileManager.default
        try fm.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/snapshots/0123abcd", withIntermediateDirectories: true)
        try "0123abcd".write(toFile: repo + "/refs/main", atomically: true, encoding: .utf8)
        for (i, f) in ["config.json", "model.safetensors", "preprocessor_config.json"].enumerated() {
            try fm.copyItem(atPath: Paths.model("vit") + "/" + f, toPath: repo + "/blobs/blob\(i)")
            try fm.createSymbolicLink(atPath: repo + "/snapshots/0123abcd/" + f, withDestinationPath: "../../blobs/blob\(i)")
        }
        let r = try CLI.run(["classify-image", Paths.fixture("images/cat.png"), "--model", "tiny/vit", "--json"], environment: ["HF_HUB_CACHE": cache])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"model\": \"tiny/vit\""))
        let missing = try CLI.run(["classify-image", Paths.fixture("images/cat.png"), "--model", "tiny/absent"],
                                  environment: ["HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"])
        CLI.expectRejected(missing, outputDir: nil, "Hub id not in the cache")
        #expect(missing.stderr.contains("mmattn download"))
    }

    /// A cache that huggingface_hub itself wrote (`Fixtures/gen_hf_cache.py`: `hf_hub_download` of
    /// two fixture models) is used as it is, offline, with the numbers of the folders it came from.
    @Test func cacheWrittenByHuggingFaceHubIsUsedAsIs() throws {
        let dir = CLI.tempDir()
        try FileManager.default.copyItem(atPath: Paths.fixture("hf-cache"), toPath: dir + "/hub")  // links stay links
        let env = ["HF_HUB_CACHE": dir + "/hub", "HF_HUB_OFFLINE": "1"]
        let cat = Paths.fixture("images/cat.png")
        let byID = try CLI.run(["classify-image", cat, "--output", dir + "/id.npy"], environment: env)
        let byFolder = try CLI.run(["classify-image", cat, "--model", Paths.model("vit"), "--output", dir + "/folder.npy"])
        #expect(byID.status == 0 && byFolder.status == 0, "\(byID.stderr) \(byFolder.stderr)")
        #expect(byID.stdout == byFolder.stdout)
        #expect(FileManager.default.contents(atPath: dir + "/id.npy") == FileManager.default.contents(atPath: dir + "/folder.npy"))

        let text = try CLI.run(["embed-text", "A cat sat on the mat.", "--json"], environment: env)
        let folderText = try CLI.run(["embed-text", "A cat sat on the mat.", "--model", Paths.model("st-bert-mean"), "--json"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout == folderText.stdout.replacingOccurrences(of: JSON.quote(Paths.model("st-bert-mean")),
                                                                      with: "\"sentence-transformers/all-MiniLM-L6-v2\""))

        let listed = try CLI.run(["models", "--json"], environment: env)
        let models = try #require(try JSON.parse(Data(listed.stdout.utf8)).object?["models"]?.array)
        let rows = models.compactMap { $0.object }.map { ($0["id"]?.string ?? "", $0["revision"]?.string ?? "", $0["family"]?.string ?? "") }
        #expect(rows.map(\.0).sorted() == ["google/vit-base-patch16-224", "sentence-transformers/all-MiniLM-L6-v2"])
        #expect(rows.allSatisfy { $0.1 == "main" && !$0.2.isEmpty })
    }

    @Test func inspectReportsTheCheckpoint() throws {
        let r = try CLI.run(["inspect", "--model", Paths.model("deit-distilled"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        let o = try #require(json.object)
        #expect(o["family"]?.string == "deit")
        #expect(o["architecture"]?.string == "DeiTForImageClassificationWithTeacher")
        #expect((o["parameters"]?.int ?? 0) > 0)
        #expect(o["dtypes"]?.object?["F32"]?.int != nil)
    }
}
