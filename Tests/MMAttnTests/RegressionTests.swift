import CSndfile
import Foundation
import Testing
@testable import MMAttn

/// What a new user and a code review found (issue 17), each through the command a user runs.
@Suite struct RegressionTests {
    let cat = Paths.fixture("images/cat.png")
    let luxc = Paths.fixture("protein/LuxC.faa")

    /// A copy of a fixture model folder with `file` replaced by `text`.
    func modelCopy(_ model: String, replacing file: String, with text: String) throws -> String {
        let dir = CLI.tempDir()
        for f in try FileManager.default.contentsOfDirectory(atPath: Paths.model(model)) where f != file {
            try FileManager.default.copyItem(atPath: Paths.model(model) + "/" + f, toPath: dir + "/" + f)
        }
        try text.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
        return dir
    }

    /// A mono 16-bit WAV of a 440 Hz tone.
    func tone(seconds: Double, in dir: String, name: String) throws -> String {
        let path = dir + "/" + name
        var info = SF_INFO(frames: 0, samplerate: 16_000, channels: 1, format: Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16), sections: 0, seekable: 0)
        let handle = try #require(sf_open(path, Int32(SFM_WRITE), &info))
        let n = Int(seconds * 16_000)
        let samples = (0..<n).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0) / 16_000)) }
        #expect(sf_writef_float(handle, samples, sf_count_t(n)) == sf_count_t(n))
        sf_close(handle)
        return path
    }

    // MARK: 1. Empty list options

    @Test(arguments: [["--repr-layers", ""], ["--repr-layers", ","], ["--include", ""], ["--include", " , "]])
    func emptyListIsAUsageError(option: [String]) throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["embed-protein", luxc, "--model", Paths.model("esm2"), "--output", dir + "/x.npy"] + option)
        #expect(!r.signaled && r.status == 64, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("\(option[0]) needs at least one value"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    // MARK: 2. Sizes a config asks for

    @Test func hugeCropIsRefusedNamingThePreprocessorConfig() throws {
        let config = """
            {"image_processor_type": "ViTImageProcessor", "do_resize": true, "size": {"height": 64, "width": 64},
             "do_center_crop": true, "crop_size": {"height": 16384, "width": 16384}}
            """
        let folder = try modelCopy("vit", replacing: "preprocessor_config.json", with: config)
        let r = try CLI.run(["classify-image", cat, "--model", folder])
        CLI.expectRejected(r, outputDir: nil, "crop_size 16384×16384")
        #expect(r.stderr.contains("preprocessor_config.json") && r.stderr.contains("crop_size"), "\(r.stderr)")
        #expect(!r.stderr.contains("cat.png"))
    }

    @Test func tooManyTokensAreRefusedBeforeThePatchEmbedding() throws {
        // 4096×4096 passes the pixel budget, but gives 262,145 tokens of 8×8 patches.
        let config = #"{"image_processor_type": "ViTImageProcessor", "size": {"height": 4096, "width": 4096}}"#
        let folder = try modelCopy("vit", replacing: "preprocessor_config.json", with: config)
        let r = try CLI.run(["classify-image", cat, "--model", folder])
        CLI.expectRejected(r, outputDir: nil, "4096×4096 from preprocessor_config.json")
        #expect(r.stderr.contains("preprocessor_config.json") && r.stderr.contains("262145 tokens") && r.stderr.contains("fits"), "\(r.stderr)")
        let big = try CLI.run(["classify-image", cat, "--model", Paths.model("vit"), "--image-size", "4000"])
        CLI.expectRejected(big, outputDir: nil, "--image-size 4000")
        #expect(big.stderr.contains("--image-size") && big.stderr.contains("use a smaller size (at most"), "\(big.stderr)")
    }

    @Test func attentionGuardDoesNotDependOnTheThreadCount() throws {
        let vit = try ImageEncoder(model: Paths.model("vit")).vit
        for side in [256, 1600, 1700, 4000] {
            let verdicts = [1, 2, 7, 64].map { n in
                Threads.withCount(n) { (try? vit.checkFits(height: side, width: side, what: "")) != nil }
            }
            #expect(Set(verdicts).count == 1, "side \(side): \(verdicts)")
        }
    }

    // MARK: 3–4. The contact map picture and secondary files

    @Test func contactsPNGIsDrawnForOneRecord() throws {
        let dir = CLI.tempDir()
        try ">one\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n".write(toFile: dir + "/one.fasta", atomically: true, encoding: .utf8)
        let r = try CLI.run(["embed-protein", dir + "/one.fasta", "--model", Paths.model("esm2"), "--output", dir + "/x.npy",
                             "--contacts-png", dir + "/map.png"])
        #expect(r.status == 0, "\(r.stderr)")
        let image = try PNGImage.decode(path: dir + "/map.png")
        #expect(image.width == image.height && image.width >= 32)
        #expect(try NPY.read(dir + "/x.npy").shape == [1, 32])
    }

    @Test func contactsPNGChecksArgumentsBeforeAnyWork() throws {
        let dir = CLI.tempDir()
        var r = try CLI.run(["embed-protein", luxc, "--model", Paths.model("esm2"), "--output", dir + "/x.npy", "--contacts-png", dir + "/map.png"])
        CLI.expectRejected(r, outputDir: dir, "--contacts-png with 12 records")
        #expect(r.stderr.contains("one-record"))
        r = try CLI.run(["embed-protein", luxc, "--model", Paths.model("esm2"), "--output", dir + "/x.npy", "--contacts-png", dir + "/map.jpg"])
        CLI.expectRejected(r, outputDir: dir, "--contacts-png map.jpg")
        #expect(r.stderr.contains(".png"))
    }

    @Test func failedMainOutputLeavesNoContactsPNG() throws {
        let dir = CLI.tempDir()
        try ">one\nMKTAYIAKQRQISFVKSHFSRQ\n".write(toFile: dir + "/one.fasta", atomically: true, encoding: .utf8)
        // The output name is taken by a non-empty folder, so the final rename fails.
        try FileManager.default.createDirectory(atPath: dir + "/x.npy/inside", withIntermediateDirectories: true)
        let r = try CLI.run(["embed-protein", dir + "/one.fasta", "--model", Paths.model("esm2"), "--output", dir + "/x.npy",
                             "--contacts-png", dir + "/map.png"])
        CLI.expectRejected(r, outputDir: nil, "output name taken by a folder")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["one.fasta", "x.npy"])
    }

    @Test func unwritableOutputIsFoundBeforeAnyWork() throws {
        // The model does not exist either: the error names the output, so it was checked first.
        for output in ["/proc/mmattn-test/x.npy", "/proc/x.npy"] {
            let r = try CLI.run(["embed-protein", luxc, "--model", "/nonexistent/model", "--output", output])
            CLI.expectRejected(r, outputDir: nil, "output in \(output)")
            #expect(r.stderr.contains(output) && !r.stderr.contains("/nonexistent/model"), "\(r.stderr)")
        }
        let r = try CLI.run(["embed-image", cat, "--model", "/nonexistent/model", "--output", CLI.tempDir() + "/embeddings"])
        CLI.expectRejected(r, outputDir: nil, "no extension")
        #expect(r.stderr.contains("no extension") && r.stderr.contains(".npy, .safetensors or .json"), "\(r.stderr)")
    }

    // MARK: 5. Truncated audio

    @Test func truncatedWAVWarnsWithTheDurationRead() throws {
        let dir = CLI.tempDir()
        let full = try tone(seconds: 4, in: dir, name: "full.wav")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        try bytes.prefix(3000).write(to: URL(fileURLWithPath: dir + "/cut.wav"))
        let r = try CLI.run(["embed-audio", dir + "/cut.wav", "--model", Paths.model("whisper"), "--output", dir + "/x.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        let warning = r.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warning.count == 1 && warning[0].contains("cut.wav") && warning[0].contains("4.00 s") && warning[0].contains("0.09 s"), "\(r.stderr)")
        let whole = try CLI.run(["embed-audio", full, "--model", Paths.model("whisper"), "--output", dir + "/y.npy"])
        #expect(whole.status == 0 && !whole.stderr.contains("warning"), "\(whole.stderr)")
    }

    // MARK: 6. Clips of different lengths

    @Test func mixedClipLengthsFailEarlyOrGetTheirOwnNames() throws {
        let dir = CLI.tempDir()
        let short = try tone(seconds: 2, in: dir, name: "short.wav"), long = try tone(seconds: 31, in: dir, name: "long.wav")
        let out = CLI.tempDir()
        let r = try CLI.run(["embed-audio", short, long, "--model", Paths.model("whisper"), "--pooling", "none", "--output", out + "/x.npy"])
        CLI.expectRejected(r, outputDir: out, "mixed window counts into .npy")
        #expect(r.stderr.contains(short) && r.stderr.contains(long) && r.stderr.contains(".safetensors"), "\(r.stderr)")
        let ok = try CLI.run(["embed-audio", short, long, "--model", Paths.model("whisper"), "--pooling", "none", "--output", out + "/x.safetensors"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let file = try SafetensorsFile(path: out + "/x.safetensors")
        #expect(file.info(short)?.shape == [1500, 32] && file.info(long)?.shape == [2, 1500, 32])
    }

    // MARK: 17. AST scores from problem_type

    @Test func astScoringFollowsProblemType() throws {
        let original = try String(contentsOfFile: Paths.model("ast") + "/config.json", encoding: .utf8)
        func scoring(_ replacement: String) throws -> Scoring {
            let text = original.replacingOccurrences(of: #""problem_type": "multi_label_classification","#, with: replacement)
            #expect(text != original || replacement.contains("multi_label"))
            return try AudioClassifier(model: try modelCopy("ast", replacing: "config.json", with: text)).scoring
        }
        #expect(try scoring(#""problem_type": "multi_label_classification","#) == .sigmoid)
        #expect(try scoring(#""problem_type": "single_label_classification","#) == .softmax)
        #expect(try scoring(#""problem_type": "regression","#) == .none)
        #expect(try scoring("") == .softmax)  // no problem_type, 12 labels (not AudioSet's 527)
        let r = try CLI.run(["classify-audio", Paths.fixture("audio/cards-001.wav"), "--model", Paths.model("ast"),
                             "--function-to-apply", "softmax", "--top-k", "12", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let scores = try #require(JSON.parse(Data(r.stdout.utf8)).object?["results"]?.array?.first?.object?["predictions"]?.array)
            .compactMap { $0.object?["score"]?.double }
        #expect(abs(scores.reduce(0, +) - 1) < 1e-5)
    }

    // MARK: 20. One summary line

    @Test func truncationIsOneSummaryLine() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["embed-protein", luxc, "--model", Paths.model("esm2"), "--truncation-seq-length", "100", "--output", dir + "/x.npy"])
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings.count == 1 && warnings[0].contains("12 records"), "\(r.stderr)")
    }

    // MARK: 21. Messages

    @Test func messagesSayWhatIsWrongPlainly() throws {
        var r = try CLI.run(["classify-image", cat, "--model", Paths.model("esm2")])
        CLI.expectRejected(r, outputDir: nil, "image with a protein model")
        #expect(r.stderr.contains("this is an ESM-2 model") && r.stderr.contains("need a ViT or DeiT checkpoint"), "\(r.stderr)")

        let dir = CLI.tempDir()
        let gz = dir + "/seqs.fasta.gz"
        try Data([0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]).write(to: URL(fileURLWithPath: gz))
        r = try CLI.run(["embed-protein", gz, "--model", Paths.model("esm2"), "--output", dir + "/x.npy"])
        CLI.expectRejected(r, outputDir: nil, "gzipped FASTA")
        #expect(r.stderr.contains("gzip-compressed: decompress it"), "\(r.stderr)")

        r = try CLI.run(["inspect", "--model", Paths.model("esm2"), "--json"])
        let config = try #require(JSON.parse(Data(r.stdout.utf8)).object?["config"]?.object)
        #expect(config["hidden_size"]?.int == 32 && config["token_dropout"]?.bool == true)
        r = try CLI.run(["inspect", "--model", Paths.model("vit")])
        #expect(r.stdout.contains("size                 ") && r.stdout.contains(" kB\n") && !r.stdout.contains("0.0 MB"), "\(r.stdout)")
    }

    @Test func imageSearchOnAMissingFolderIsOneLine() throws {
        let exe = (CLI.executable as NSString).deletingLastPathComponent + "/image-search"
        try #require(FileManager.default.isExecutableFile(atPath: exe), "image-search is built beside mmattn")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [cat, "/nonexistent-folder", "--model", Paths.model("vit")]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 1)
        #expect(text == "error: /nonexistent-folder: no such folder; give a folder of PNG images to search\n")
    }
}
