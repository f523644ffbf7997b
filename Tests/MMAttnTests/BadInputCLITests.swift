import Foundation
import Testing
@testable import MMAttn

/// Bad input through the real command line: exit status 1, one `error: ` line, no output file,
/// never a crash or a hang. The shared corpus (`../shared/badinputs`) is read in place; the
/// config and checkpoint cases are made here from the fixture models.
@Suite struct BadInputCLITests {
    /// Run `arguments` with `--output` into a fresh folder and return the result and that folder.
    func run(_ arguments: [String], output name: String? = "out.npy") throws -> (CLI.Result, String) {
        try CLI.run(arguments, output: name)
    }

    @Test(.needsBadInputs) func sharedPNGCorpus() throws {
        for path in try Paths.badInputs("png", extensions: ["png"]) {
            let (r, dir) = try run(["classify-image", path, "--model", Paths.model("vit"), "--top-k", "1", "--json"], output: "logits.npy")
            CLI.expectByName(path, r, outputDir: dir)
        }
    }

    @Test(.needsBadInputs) func sharedAudioCorpus() throws {
        for path in try Paths.badInputs("audio", extensions: ["wav", "flac", "oga", "ogg"]) {
            let (r, dir) = try run(["embed-audio", path, "--model", Paths.model("whisper")])
            CLI.expectByName(path, r, outputDir: dir)
        }
    }

    /// The same audio through transcribe, which streams files longer than 30 s (AudioStream).
    @Test(.needsBadInputs) func sharedAudioCorpusTranscribed() throws {
        for path in try Paths.badInputs("audio", extensions: ["wav", "flac", "oga", "ogg"]) {
            let (r, dir) = try run(["transcribe", path, "--model", Paths.model("whisper-gen"), "--json"], output: "out.json")
            CLI.expectByName(path, r, outputDir: dir)
        }
    }

    /// PNG, audio and FASTA files through attention, with every output it writes asked for.
    @Test(.needsBadInputs) func sharedCorpusThroughAttention() throws {
        let kinds: [(String, Set<String>, String)] = [("png", ["png"], "vit"), ("audio", ["wav", "flac", "oga", "ogg"], "whisper"),
                                                      ("fasta", ["fasta"], "esm2")]
        for (category, extensions, model) in kinds {
            for path in try Paths.badInputs(category, extensions: extensions) {
                let dir = CLI.tempDir()
                let r = try CLI.run(["attention", path, "--model", Paths.model(model), "--layer", "-1", "--output", dir + "/maps.npy",
                                     "--png", dir + "/maps.png", "--html", dir + "/maps.html"], timeout: 60)
                CLI.expectByName(path, r, outputDir: dir)
            }
        }
    }

    @Test(.needsBadInputs) func sharedFASTACorpus() throws {
        for path in try Paths.badInputs("fasta", extensions: ["fasta"]) {
            let (r, dir) = try run(["embed-protein", path, "--model", Paths.model("esm2")])
            CLI.expectByName(path, r, outputDir: dir)
        }
    }

    /// Text files through both text commands: invalid UTF-8, UTF-16, NUL bytes, BOMs.
    @Test(.needsBadInputs) func sharedTextCorpus() throws {
        for path in try Paths.badInputs("text", extensions: ["txt"]) {
            let (r, dir) = try run(["embed-text", "--input", path, "--model", Paths.model("bert")])
            CLI.expectByName(path, r, outputDir: dir)
            let t = try CLI.run(["tokenize", "--input", path, "--model", Paths.model("bert"), "--json"], timeout: 60)
            CLI.expectByName(path, t, outputDir: nil)
            if t.status == 0 { #expect((try? JSON.parse(Data(t.stdout.utf8))) != nil, "\(path): tokenize --json printed no JSON") }
        }
    }

    /// The shared corpus's malformed tokenizer.json files, in a copy of the BERT fixture.
    @Test(.needsBadInputs) func sharedTokenizerJSON() throws {
        for path in try Paths.badInputs("json", extensions: ["json"]) where (path as NSString).lastPathComponent.hasPrefix("tokenizer__") {
            let folder = try modelCopy("bert", replacing: "tokenizer.json", with: try Data(contentsOf: URL(fileURLWithPath: path)))
            let r = try CLI.run(["tokenize", "hello world", "--model", folder, "--json"], timeout: 60)
            CLI.expectByName(path, r, outputDir: nil)
        }
    }

    /// A copy of a fixture model folder with one file replaced.
    func modelCopy(_ model: String, replacing file: String, with data: Data?) throws -> String {
        let dir = CLI.tempDir()
        for f in try FileManager.default.contentsOfDirectory(atPath: Paths.model(model)) where f != file {
            try FileManager.default.copyItem(atPath: Paths.model(model) + "/" + f, toPath: dir + "/" + f)
        }
        if let data { try data.write(to: URL(fileURLWithPath: dir + "/" + file)) }
        return dir
    }

    /// The probe command of each kind of model on a good input.
    func probe(_ model: String, folder: String) -> [String] {
        switch model {
        case "vit": return ["classify-image", Paths.fixture("images/cat.png"), "--model", folder, "--json"]
        case "whisper": return ["embed-audio", Paths.fixture("audio/cards-001.wav"), "--model", folder]
        case "bert": return ["embed-text", "hello world", "--model", folder]
        default: return ["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", folder]
        }
    }

    @Test(arguments: ["vit", "whisper", "esm2", "bert"])
    func malformedConfigs(model: String) throws {
        let original = try String(contentsOfFile: Paths.model(model) + "/config.json", encoding: .utf8)
        let hidden = model == "whisper" ? "d_model" : "hidden_size"
        let heads = model == "whisper" ? "encoder_attention_heads" : "num_attention_heads"
        let layers = model == "whisper" ? "encoder_layers" : "num_hidden_layers"
        let act = model == "whisper" ? "activation_function" : "hidden_act"
        func replacing(_ key: String, _ value: String) -> String {
            original.replacingOccurrences(of: #"("\#(key)": )[^,\n}]+"#, with: "$1\(value)", options: .regularExpression)
        }
        var cases: [(String, String)] = [
            ("truncated", String(original.prefix(original.count / 2))),
            ("not JSON", "<html>"),
            ("an array", "[1, 2]"),
            ("hidden size as string", replacing(hidden, "\"32\"")),
            ("hidden size fraction", replacing(hidden, "32.5")),
            ("zero heads", replacing(heads, "0")),
            ("layers 1e400", replacing(layers, "1e400")),
            ("eps NaN", replacing(model == "whisper" ? "dropout" : "layer_norm_eps", "NaN")),
            ("unknown activation", replacing(act, "\"mmattn_no_such_activation\"")),
            ("no model type", original.replacingOccurrences(of: #""model_type": "[^"]*","#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #""architectures": \[[^\]]*\],"#, with: "", options: .regularExpression)),
            ("deep nesting", "{\"x\": " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"),
        ]
        if model == "esm2" || model == "bert" { cases.append(("vocab 300M", replacing("vocab_size", "300000000"))) }
        if model == "vit" { cases.append(("id2label key", original.replacingOccurrences(of: "\"0\": ", with: "\"abc\": "))) }
        for (what, text) in cases {
            #expect(text != original, "\(model): the \(what) case did not change config.json")
            let folder = try modelCopy(model, replacing: "config.json", with: Data(text.utf8))
            let (r, dir) = try run(probe(model, folder: folder))
            CLI.expectRejected(r, outputDir: dir, "\(model) config: \(what)")
            #expect(r.stderr.contains("config.json") || r.stderr.contains("model.safetensors"), "\(model) config \(what): \(r.stderr)")
        }
    }

    @Test(arguments: ["vit", "whisper", "esm2", "bert"])
    func brokenCheckpoints(model: String) throws {
        let weights = try Data(contentsOf: URL(fileURLWithPath: Paths.model(model) + "/model.safetensors"))
        let cases: [(String, Data?)] = [
            ("missing", nil),
            ("empty", Data()),
            ("truncated", weights.prefix(weights.count - 4)),
            ("header only", weights.prefix(64)),
            ("Git LFS pointer", Data("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n".utf8)),
        ]
        for (what, data) in cases {
            let folder = try modelCopy(model, replacing: "model.safetensors", with: data)
            let (r, dir) = try run(probe(model, folder: folder))
            CLI.expectRejected(r, outputDir: dir, "\(model) weights: \(what)")
            if what == "Git LFS pointer" { #expect(r.stderr.contains("git lfs pull")) }
        }
    }

    @Test func preprocessorConfigErrors() throws {
        let original = try String(contentsOfFile: Paths.model("vit") + "/preprocessor_config.json", encoding: .utf8)
        for (what, text) in [("truncated", String(original.prefix(original.count / 2))),
                             ("two means", original.replacingOccurrences(of: #""image_mean": \[[^\]]*\]"#, with: "\"image_mean\": [0.5, 0.5]", options: .regularExpression)),
                             ("size zero", original.replacingOccurrences(of: #""height": \d+"#, with: "\"height\": 0", options: .regularExpression))] {
            #expect(text != original, "the \(what) case did not change preprocessor_config.json")
            let folder = try modelCopy("vit", replacing: "preprocessor_config.json", with: Data(text.utf8))
            let (r, dir) = try run(probe("vit", folder: folder))
            CLI.expectRejected(r, outputDir: dir, "preprocessor_config: \(what)")
        }
        let audio = try String(contentsOfFile: Paths.model("whisper") + "/preprocessor_config.json", encoding: .utf8)
        let zeroBins = audio.replacingOccurrences(of: #""feature_size": \d+"#, with: "\"feature_size\": 0", options: .regularExpression)
        let folder = try modelCopy("whisper", replacing: "preprocessor_config.json", with: Data(zeroBins.utf8))
        let (r, dir) = try run(probe("whisper", folder: folder))
        CLI.expectRejected(r, outputDir: dir, "whisper feature_size 0")
    }

    /// Inputs longer than one sequence may be, and attention maps that could not fit in memory,
    /// are refused before anything is allocated.
    @Test func oversizedAttentionIsRefused() throws {
        let dir = CLI.tempDir()
        let fasta = dir + "/long.fasta", longer = dir + "/longer.fasta"
        try (">long\n" + String(repeating: "ACDEFGHIKL", count: 5000) + "\n").write(toFile: fasta, atomically: true, encoding: .utf8)
        try (">longer\n" + String(repeating: "ACDEFGHIKL", count: 14000) + "\n").write(toFile: longer, atomically: true, encoding: .utf8)
        var (r, out) = try run(["embed-protein", fasta, "--model", Paths.model("esm2"), "--no-truncate", "--include", "contacts"],
                               output: "out.safetensors")
        CLI.expectRejected(r, outputDir: out, "contacts of 50,000 residues without truncation")
        #expect(r.stderr.contains("--truncation-seq-length") && r.stderr.contains(fasta) && r.stderr.contains("GB"))
        (r, out) = try run(["embed-protein", longer, "--model", Paths.model("esm2"), "--no-truncate"])
        CLI.expectRejected(r, outputDir: out, "140,000 residues without truncation")
        #expect(r.stderr.contains("--truncation-seq-length") && r.stderr.contains("131072"))
        (r, out) = try run(["classify-image", Paths.fixture("images/cat.png"), "--model", Paths.model("vit"), "--image-size", "4000"], output: "x.npy")
        CLI.expectRejected(r, outputDir: out, "4000×4000 image")
    }

    /// A folder with only pytorch_model.bin classifies as the safetensors folder does; one whose
    /// pickle would run a command exits 1 with `error: ` and the command never runs.
    @Test func pytorchBinFolders() throws {
        let args = ["classify-image", Paths.fixture("images/cat.png"), "--top-k", "3", "--json"]
        let bin = try modelCopy("vit", replacing: "model.safetensors", with: nil)
        try FileManager.default.copyItem(atPath: Paths.fixture("checkpoint-forms/vit/pytorch_model.bin"), toPath: bin + "/pytorch_model.bin")
        let published = try CLI.run(args + ["--model", Paths.model("vit")]), fromBin = try CLI.run(args + ["--model", bin])
        #expect(fromBin.status == 0, "\(fromBin.stderr)")
        #expect(fromBin.stdout.replacingOccurrences(of: bin, with: "M") == published.stdout.replacingOccurrences(of: Paths.model("vit"), with: "M"))

        let evil = try modelCopy("vit", replacing: "model.safetensors", with: nil)
        try FileManager.default.copyItem(atPath: Paths.fixture("checkpoint-forms/bad/malicious.bin"), toPath: evil + "/pytorch_model.bin")
        let work = CLI.tempDir()
        let r = try CLI.run(args + ["--model", evil], directory: work)
        CLI.expectRejected(r, outputDir: nil, "malicious pytorch_model.bin")
        #expect(r.stderr.contains("posix.system") && r.stderr.contains("pytorch_model.bin"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work + "/mmattn-pickle-ran"), "the malicious pickle ran")
    }

    @Test func wrongModelFamilyAndMissingFiles() throws {
        var (r, dir) = try run(["classify-image", Paths.fixture("images/cat.png"), "--model", Paths.model("esm2")], output: "x.npy")
        CLI.expectRejected(r, outputDir: dir, "image with a protein model")
        (r, dir) = try run(["embed-protein", Paths.fixture("protein/LuxC.faa"), "--model", "/nonexistent/model"])
        CLI.expectRejected(r, outputDir: dir, "missing model folder")
        (r, dir) = try run(["embed-audio", "/nonexistent.wav", "--model", Paths.model("whisper")])
        CLI.expectRejected(r, outputDir: dir, "missing audio file")
        (r, dir) = try run(["embed-image", Paths.fixture("images/cat.png"), "--model", Paths.model("vit")], output: "x.txt")
        CLI.expectRejected(r, outputDir: dir, "unknown output extension")
    }
}
