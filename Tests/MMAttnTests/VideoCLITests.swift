import Foundation
import Testing
@testable import MMAttn

/// classify-video and embed-video through the real command line: CONTRACT.md's JSON and outputs
/// from a video file, a folder of frames and a PNG list, and bad clips rejected by name.
@Suite struct VideoCLITests {
    func run(_ arguments: [String], output name: String? = nil) throws -> (CLI.Result, String) {
        try CLI.run(arguments, output: name)
    }

    func reference(_ model: String, _ input: String, _ name: String) throws -> Tensor {
        try NPY.read(Paths.reference("video/\(model)/\(input)/\(name).npy"))
    }

    @Test(arguments: [("videomae", "pan.mp4", "pan_mp4"), ("timesformer", "frames/pan", "pan")])
    func classifyVideoPrintsContractJSONAndLogits(model: String, input: String, reference name: String) throws {
        let clip = Paths.fixture("video/\(input)")
        let (r, dir) = try run(["classify-video", clip, "--model", Paths.model(model), "--top-k", "3", "--json"], output: "logits.npy")
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        let results = try #require(json.object?["results"]?.array)
        #expect(results.count == 1)
        #expect(results[0].object?["input"]?.string == clip)
        let predictions = try #require(results[0].object?["predictions"]?.array)
        let scores = predictions.compactMap { $0.object?["score"]?.double }
        #expect(predictions.count == 3 && scores == scores.sorted(by: >))
        let logits = try NPY.read(dir + "/logits.npy")
        #expect(logits.shape == [5])
        expectClose(logits, try reference(model, name, "logits"), tolerance: 5e-6, "logits")  // measured ≤ 6.0e-7
        let best = (0..<5).max { logits.data[$0] < logits.data[$1] }!
        #expect(predictions.first?.object?["index"]?.int == best)
    }

    @Test func framesGivenAsAListAreTheFolder() throws {
        let folder = Paths.fixture("video/frames/fade")
        let files = (0..<6).map { folder + String(format: "/frame_%02d.png", $0) }
        let (a, dirA) = try run(["embed-video", folder, "--model", Paths.model("timesformer")], output: "a.npy")
        let (b, dirB) = try run(["embed-video"] + files + ["--model", Paths.model("timesformer")], output: "b.npy")
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        let ea = try NPY.read(dirA + "/a.npy"), eb = try NPY.read(dirB + "/b.npy")
        #expect(ea.shape == [32] && ea.values == eb.values)
        expectClose(ea, Pooling.cls.apply(try reference("timesformer", "fade", "last_hidden_state")), tolerance: 2e-5, "cls")  // measured ≤ 3.0e-6 (last_hidden_state)
    }

    @Test func embedVideoPoolings() throws {
        let clip = Paths.fixture("video/zoom.webm")
        var (r, dir) = try run(["embed-video", clip, "--model", Paths.model("videomae")], output: "mean.npy")
        #expect(r.status == 0, "\(r.stderr)")
        expectClose(try NPY.read(dir + "/mean.npy"), try reference("videomae", "zoom_webm", "pooled"), tolerance: 5e-6, "pooled")  // measured ≤ 4.8e-7
        (r, dir) = try run(["embed-video", clip, "--model", Paths.model("videomae"), "--pooling", "none"], output: "all.safetensors")
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: dir + "/all.safetensors")
        let states = try file.tensor("last_hidden_state").copy()
        #expect(states.shape == [32, 32])
        expectClose(states, try reference("videomae", "zoom_webm", "last_hidden_state"), tolerance: 2e-5, "last_hidden_state")  // measured ≤ 3.0e-6
        (r, _) = try run(["embed-video", clip, "--model", Paths.model("timesformer"), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSON.parse(Data(r.stdout.utf8))
        let result = try #require(json.object?["results"]?.array?.first?.object)
        #expect(result["shape"]?.array?.compactMap(\.int) == [32])
    }

    /// Broken video files, frames of two sizes, too few frames, a non-PNG among frames, an empty
    /// folder, a missing file: exit 1, an `error:` line naming the input, no output file.
    @Test func badClipsAreRejectedByName() throws {
        let bad = Paths.fixture("video/bad")
        for name in try FileManager.default.contentsOfDirectory(atPath: bad).sorted() {
            let path = bad + "/" + name
            let (r, dir) = try run(["classify-video", path, "--model", Paths.model("videomae"), "--json"], output: "logits.npy")
            CLI.expectRejected(r, outputDir: dir, name)
            #expect(r.stderr.contains(path), "\(name): the error does not name the file: \(r.stderr)")
        }
        let pan = Paths.fixture("video/frames/pan/frame_00.png"), fade = Paths.fixture("video/frames/fade/frame_00.png")
        let empty = CLI.tempDir()
        let text = empty + "/notes.txt"
        try Data("not a frame".utf8).write(to: URL(fileURLWithPath: text))
        let cases: [(args: [String], names: String, says: String)] = [
            ([pan, pan, fade, fade], fade, "one size"),
            ([pan], pan, "at least 4"),
            ([pan, text, pan, pan], text, "not a PNG"),
            ([empty], empty, "no .png files"),
            ([empty + "/missing.mp4"], empty + "/missing.mp4", "no such file"),
            ([Paths.fixture("video/pan.mp4"), pan], Paths.fixture("video/pan.mp4"), "not a PNG"),
        ]
        for c in cases {
            let (r, dir) = try run(["embed-video"] + c.args + ["--model", Paths.model("timesformer")], output: "x.npy")
            CLI.expectRejected(r, outputDir: dir, c.says)
            #expect(r.stderr.contains(c.names) && r.stderr.contains(c.says), "\(c.says): \(r.stderr)")
        }
    }

    /// The shared corpus's malformed PNGs given as a clip (a single file that is not a PNG is
    /// taken for a video file, so both decoders meet them).
    @Test(.needsBadInputs) func sharedPNGCorpusAsClips() throws {
        for path in try Paths.badInputs("png", extensions: ["png"]) {
            let (r, dir) = try run(["classify-video", path, "--model", Paths.model("timesformer"), "--json"], output: "logits.npy")
            // A valid single image is still one frame of the four the model needs.
            CLI.expectRejected(r, outputDir: dir, (path as NSString).lastPathComponent)
        }
    }
}
