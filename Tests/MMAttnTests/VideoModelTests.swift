import Foundation
import Testing
@testable import MMAttn
import MMAttnVideo

/// Video: frame sampling, the PNG frame front-end, and TimeSformer / VideoMAE parity with
/// transformers on the tiny random checkpoints of `Fixtures/models` (`Fixtures/gen_video.py`).
@Suite struct FrameSamplingTests {
    /// `np.round(np.linspace(0, n - 1, k)).astype(int)` from NumPy 2.4, halves to even included
    /// (6 of 3: 2.5 → 2; 8 of 3: 3.5 → 4).
    @Test func samplingMatchesNumPy() {
        let cases: [(n: Int, k: Int, expected: [Int])] = [
            (10, 4, [0, 3, 6, 9]), (6, 4, [0, 2, 3, 5]), (16, 8, [0, 2, 4, 6, 9, 11, 13, 15]), (6, 3, [0, 2, 5]),
            (8, 3, [0, 4, 7]), (5, 5, [0, 1, 2, 3, 4]), (17, 16, [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16]),
            (300, 16, [0, 20, 40, 60, 80, 100, 120, 140, 159, 179, 199, 219, 239, 259, 279, 299]), (9, 4, [0, 3, 5, 8]), (7, 1, [0]),
        ]
        for c in cases { #expect(FrameSampling.indices(count: c.n, wanted: c.k) == c.expected, "\(c.n) of \(c.k)") }
    }

    @Test func tooFewFramesSaysHowManyAreNeeded() throws {
        let frames = try PNGFrames(folder: Paths.fixture("video/frames/fade"))  // 6 frames
        let error = try #require(throws: MMAttnError.self) { try FrameSampling.indices(for: frames, wanted: 8) }
        #expect(error.file == Paths.fixture("video/frames/fade"))
        #expect(error.message.contains("6 frames") && error.message.contains("at least 8"), "\(error)")
    }

    @Test func folderFramesAreSortedPNGs() throws {
        let frames = try PNGFrames(folder: Paths.fixture("video/frames/pan"))
        #expect(try frames.frameCount() == 10)
        #expect(frames.paths.map { ($0 as NSString).lastPathComponent } == (0..<10).map { String(format: "frame_%02d.png", $0) })
        #expect((frames.width, frames.height) == (48, 40))
    }

    @Test func badFrameListsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-frames-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // An empty folder (a non-PNG file does not count as a frame).
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        let empty = try #require(throws: MMAttnError.self) { try PNGFrames(folder: dir) }
        #expect(empty.file == dir && empty.message.contains("no .png files"), "\(empty)")
        // Frames of two sizes.
        let a = Paths.fixture("video/frames/pan/frame_00.png"), b = Paths.fixture("video/frames/fade/frame_00.png")
        let sizes = try #require(throws: MMAttnError.self) { try PNGFrames(paths: [a, a, b]) }
        #expect(sizes.file == b && sizes.message.contains("one size"), "\(sizes)")
        // A file that is not a PNG among them.
        let fake = dir + "/frame_01.png"
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: fake))
        let notPNG = try #require(throws: MMAttnError.self) { try PNGFrames(paths: [a, fake]) }
        #expect(notPNG.file == fake, "\(notPNG)")
    }
}

@Suite struct VideoParityTests {
    static let models = ["timesformer", "timesformer-joint", "videomae", "videomae-nomean"]

    func reference(_ model: String, _ input: String, _ name: String) throws -> Tensor {
        try NPY.read(Paths.reference("video/\(model)/\(input)/\(name).npy"))
    }

    /// Indices the reference sampled (int64 in the file), as integers.
    func indices(_ model: String, _ input: String) throws -> [Int] {
        try reference(model, input, "indices").values.map { Int($0) }
    }

    @Test(arguments: models, ["pan", "fade"])
    func framesMatchTransformers(model: String, input: String) throws {
        try check(model, input, try PNGFrames(folder: Paths.fixture("video/frames/\(input)")))
    }

    /// The same from video files, opened as the commands open them: the reference decoded them
    /// with PyAV (`to_ndarray(format="rgb24")`) and ran transformers' processor and model.
    @Test(arguments: models, ["pan.mp4", "zoom.webm"])
    func videoFilesMatchTransformers(model: String, file: String) throws {
        let clip = try openClip([Paths.fixture("video/\(file)")])
        #expect(clip is VideoFile)
        try check(model, file.replacingOccurrences(of: ".", with: "_"), clip)
    }

    /// Sampled indices, pixel values, every hidden state, attentions, logits (and VideoMAE's
    /// pooled output) of `model` on `source` against the reference for `input`.
    func check(_ model: String, _ input: String, _ source: FrameSource) throws {
        let encoder = try VideoEncoder(model: Paths.model(model))
        let (sampled, pixels) = try encoder.pixelValues(source)
        #expect(sampled == (try indices(model, input)), "sampled frames")
        expectClose(pixels, try reference(model, input, "pixel_values"), tolerance: 0, "pixel_values")  // measured 0: the same Pillow resize and float32 table

        var attentions: [Int: Tensor] = [:]
        let options = EncoderOptions(hiddenStates: true, attentionSink: { layer, probs in attentions[layer] = probs.copy() })
        let out = try encoder.backbone.forward(pixels, options: options)
        #expect(out.hiddenStates.count == 3, "the embeddings and 2 layers' outputs")
        for (i, state) in out.hiddenStates.enumerated() {
            expectClose(state, try reference(model, input, "hidden_states_\(i)"), tolerance: 2e-5, "\(model) \(input) hidden_states_\(i)")  // measured ≤ 3.4e-6 (values up to 9.4)
        }
        expectClose(out.lastHiddenState, try reference(model, input, "last_hidden_state"), tolerance: 2e-5, "last_hidden_state")  // measured ≤ 3.0e-6
        for (layer, probs) in attentions.sorted(by: { $0.key < $1.key }) {
            expectClose(probs, try reference(model, input, "attentions_\(layer)"), tolerance: 2e-6, "attentions_\(layer)")  // measured ≤ 4.2e-7
        }
        #expect(attentions.count == 2)
        let logits = try encoder.backbone.logits(lastHiddenState: out.lastHiddenState)
        expectClose(logits, try reference(model, input, "logits"), tolerance: 5e-6, "logits")  // measured ≤ 6.0e-7
        if model == "videomae" {
            expectClose(encoder.backbone.pool(out.lastHiddenState, .mean), try reference(model, input, "pooled"), tolerance: 5e-6, "pooled")  // measured 4.8e-7
        }
    }

    /// The pipeline entry points give what the parts give: the classifier's logits, and the
    /// default pooling of CONTRACT.md (TimeSformer `cls`, VideoMAE `mean`).
    @Test(arguments: models)
    func pipelineUsesTheClassifiersPooling(model: String) throws {
        let classifier = try VideoClassifier(model: Paths.model(model))
        let frames = try PNGFrames(folder: Paths.fixture("video/frames/pan"))
        let result = try classifier.classify(frames, topK: 3)
        expectClose(result.logits, try reference(model, "pan", "logits"), tolerance: 5e-6, "logits")
        #expect(result.predictions.count == 3)
        // VideoMAE's mean is fc_norm(mean) where it has fc_norm, else the mean after its final norm.
        let embedding = try classifier.encoder.embed(frames)
        let last = try reference(model, "pan", "last_hidden_state")
        let expected = model == "videomae" ? try reference(model, "pan", "pooled")
            : model.hasPrefix("videomae") ? Pooling.mean.apply(last) : Pooling.cls.apply(last)
        expectClose(embedding, expected, tolerance: 5e-6, "embedding")  // measured ≤ 4.8e-7
    }

    /// TimeSformer's divided layers on the scalar reference attention give the same states.
    @Test func dividedLayersOnTheReferenceAttention() throws {
        let encoder = try VideoEncoder(model: Paths.model("timesformer"))
        let (_, pixels) = try encoder.pixelValues(try PNGFrames(folder: Paths.fixture("video/frames/pan")))
        let out = try encoder.backbone.forward(pixels, options: EncoderOptions(referenceAttention: true))
        expectClose(out.lastHiddenState, try reference("timesformer", "pan", "last_hidden_state"), tolerance: 2e-5, "last_hidden_state")
    }

    /// A copy of a fixture model folder with one JSON file's keys changed.
    func folder(_ model: String, editing file: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = CLI.tempDir()
        for name in try FileManager.default.contentsOfDirectory(atPath: Paths.model(model)) {
            try FileManager.default.copyItem(atPath: Paths.model(model) + "/" + name, toPath: dir + "/" + name)
        }
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/" + file))
        return dir
    }

    /// Settings that cannot run are refused at load, naming the file: a crop of another size than
    /// the model's image_size, and TimeSformer's space_only attention.
    @Test func unusableSettingsAreRefusedAtLoad() throws {
        let crop = try folder("timesformer", editing: "preprocessor_config.json") { $0["crop_size"] = ["height": 24, "width": 24] }
        let cropError = try #require(throws: MMAttnError.self) { try VideoEncoder(model: crop) }
        #expect(cropError.file == crop + "/preprocessor_config.json" && cropError.message.contains("24×24"), "\(cropError)")
        let spaceOnly = try folder("timesformer", editing: "config.json") { $0["attention_type"] = "space_only" }
        let typeError = try #require(throws: MMAttnError.self) { try VideoEncoder(model: spaceOnly) }
        #expect(typeError.file == spaceOnly + "/config.json" && typeError.message.contains("space_only"), "\(typeError)")
    }

    /// A folder saved by transformers 5's video processors has `video_preprocessor_config.json`
    /// instead; it is read the same way.
    @Test func videoProcessorConfigIsRead() throws {
        let dir = try folder("videomae", editing: "preprocessor_config.json") { json in
            json["feature_extractor_type"] = nil
            json["video_processor_type"] = "VideoMAEVideoProcessor"
        }
        try FileManager.default.moveItem(atPath: dir + "/preprocessor_config.json", toPath: dir + "/video_preprocessor_config.json")
        let encoder = try VideoEncoder(model: dir)
        #expect(encoder.preprocessor.source == dir + "/video_preprocessor_config.json")
        let (_, pixels) = try encoder.pixelValues(try PNGFrames(folder: Paths.fixture("video/frames/pan")))
        expectClose(pixels, try reference("videomae", "pan", "pixel_values"), tolerance: 0, "pixel_values")
    }
}
