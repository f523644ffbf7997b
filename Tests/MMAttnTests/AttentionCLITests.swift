import Foundation
import Testing
@testable import MMAttn

/// `mmattn attention` through the real command line: CONTRACT.md's shapes and names, the JSON
/// summary, and bad requests refused by name with no file left behind.
@Suite struct AttentionCLITests {
    static let sentence = AttentionMapsTests.sentence

    @Test func selectedSliceKeepsItsAxes() throws {
        let (r, dir) = try CLI.run(["attention", Self.sentence, "--model", Paths.model("bert"), "--layer", "-1", "--head", "0", "--head", "2"],
                                   output: "maps.npy")
        #expect(r.status == 0, "\(r.stderr)")
        let maps = try NPY.read(dir + "/maps.npy")
        #expect(maps.shape == [1, 2, 31, 31])
        let reference = try AttentionMapsTests.reference("bert").tensor("attentions")  // [2, 4, 31, 31]
        let plane = 31 * 31
        for (k, h) in [0, 2].enumerated() {
            for i in 0..<plane {
                #expect(abs(maps.pointer[k * plane + i] - reference.pointer[(4 + h) * plane + i]) < 3e-6)  // measured ≤ 9e-8 (bert)
            }
        }
    }

    @Test func safetensorsHoldAttentionsAndRollout() throws {
        let (r, dir) = try CLI.run(["attention", Paths.fixture("images/cat.png"), "--model", Paths.model("deit-distilled")], output: "maps.safetensors")
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: dir + "/maps.safetensors")
        #expect(Set(file.names) == ["attentions", "rollout"])
        #expect(file.entries["attentions"]?.shape == [2, 4, 66, 66])
        #expect(file.entries["rollout"]?.shape == [66, 66])
    }

    @Test func crossAttentionIsNamedSo() throws {
        let (r, dir) = try CLI.run(["attention", Paths.fixture("audio/cards-005.wav"), "--model", Paths.model("whisper-gen"), "--cross",
                                    "--layer", "1"], output: "cross.safetensors")
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: dir + "/cross.safetensors")
        #expect(file.names == ["cross_attentions"])
        #expect(file.entries["cross_attentions"]?.shape == [1, 4, 56, 1500])
    }

    @Test func jsonNamesTheTokens() throws {
        let fasta = Paths.reference("attention/protein.fasta")
        let (r, _) = try CLI.run(["attention", fasta, "--model", Paths.model("esm2"), "--head", "1", "--json"], output: nil)
        #expect(r.status == 0, "\(r.stderr)")
        let parsed = try JSON.parse(Data(r.stdout.utf8))
        let json = try #require(parsed.object)
        #expect(json["shape"]?.array?.compactMap(\.int) == [3, 1, 50, 50])
        #expect(json["layers"]?.array?.compactMap(\.int) == [0, 1, 2])
        #expect(json["heads"]?.array?.compactMap(\.int) == [1])
        let queries = json["queries"]?.array?.compactMap(\.string) ?? []
        #expect(queries.count == 50 && queries.first == "<cls>" && queries.last == "<eos>" && queries[1] == "M1")
        #expect(json["keys"]?.array?.compactMap(\.string) == queries)
    }

    @Test func summaryWithoutOutputs() throws {
        let (r, _) = try CLI.run(["attention", Paths.fixture("video/frames/pan"), "--model", Paths.model("timesformer-joint"), "--layer", "0"], output: nil)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("[layers, heads, T, T] = [1, 4, 49, 49]"))
        #expect(r.stdout.contains("strongest link per head, layer 0"))
    }

    @Test(arguments: [
        (["--layer", "7"], "there is no layer 7"),
        (["--head", "1,1"], "head 1 is selected twice"),
        (["--cross"], "cross-attention maps need a Whisper checkpoint"),
    ])
    func badRequestsAreRefusedByName(extra: [String], message: String) throws {
        let (r, dir) = try CLI.run(["attention", Self.sentence, "--model", Paths.model("bert")] + extra, output: "maps.npy")
        CLI.expectRejected(r, outputDir: dir, extra.joined(separator: " "))
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func aPictureThatCannotBeDrawnLeavesNoFileAtAll() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["attention", Self.sentence, "--model", Paths.model("bert"), "--output", dir + "/m.npy", "--png", dir + "/m.png",
                             "--picture", "image", "--html", dir + "/m.html"])
        CLI.expectRejected(r, outputDir: dir, "an image picture of a text")
        #expect(r.stderr.contains("the image picture does not fit text; use heads"), "\(r.stderr)")
        let same = try CLI.run(["attention", Self.sentence, "--model", Paths.model("bert"), "--output", dir + "/m.npy", "--html", dir + "/./m.npy"])
        #expect(same.status == 64 && same.stderr.contains("must name different files"), "\(same.stderr)")
    }

    @Test func oneTokenHasNoLinks() throws {
        let r = try CLI.run(["attention", "a", "--model", Paths.model("gpt2")])
        #expect(r.status == 0 && r.stdout.contains("\"a\": 1 token, ") && r.stdout.contains("no links between tokens"), "\(r.stdout)")
    }

    @Test func wrongInputsAreRefusedByName() throws {
        var (r, dir) = try CLI.run(["attention", Paths.fixture("audio/cards-005.wav"), "--model", Paths.model("vit")], output: "maps.npy")
        CLI.expectRejected(r, outputDir: dir, "audio to an image model")
        (r, dir) = try CLI.run(["attention", Paths.fixture("images/cat.png"), "--model", Paths.model("esm2")], output: "maps.npy")
        CLI.expectRejected(r, outputDir: dir, "PNG to a protein model")
        (r, dir) = try CLI.run(["attention", Paths.reference("attention/protein.fasta"), "--model", Paths.model("esm2"), "--record", "nope"],
                               output: "maps.npy")
        CLI.expectRejected(r, outputDir: dir, "missing record")
        #expect(r.stderr.contains("no record with id \"nope\""))
        (r, dir) = try CLI.run(["attention", Paths.fixture("audio/cards-005.wav"), "--model", Paths.model("whisper-gen"), "--cross"],
                               output: "maps.txt")
        CLI.expectRejected(r, outputDir: dir, "unknown output format")
    }
}

/// `--png`: every family draws its picture, which decodes; a picture that does not fit is refused.
@Suite struct AttentionPictureCLITests {
    @Test(arguments: [
        ("bert", AttentionMapsTests.sentence, "heads"), ("vit", "images/cat.png", "image"), ("ast", "audio/cards-005.wav", "audio"),
        ("whisper", "audio/cards-005.wav", "audio"), ("esm2", "reference/attention/protein.fasta", "contacts"),
        ("timesformer", "video/frames/pan", "frames"), ("timesformer-joint", "video/frames/pan", "frames"),
        ("videomae", "video/frames/pan", "frames"), ("timesformer", "video/frames/pan", "heads"),
    ])
    func everyFamilyDrawsItsPicture(model: String, input: String, kind: String) throws {
        let dir = CLI.tempDir()
        let path = model == "bert" ? input : Paths.fixture(input)
        let r = try CLI.run(["attention", path, "--model", Paths.model(model), "--png", dir + "/p.png", "--picture", kind])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("wrote \(dir)/p.png: \(kind) picture"))
        let image = try PNGImage.decode(path: dir + "/p.png")
        #expect(image.width >= 400 && image.height >= 300)
        #expect(r.stdout.isEmpty)
    }

    @Test func whisperTranscriptDrawsTheAlignment() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["attention", Paths.fixture("audio/cards-005.wav"), "--model", Paths.model("whisper-gen"), "--cross",
                             "--png", dir + "/a.png"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try PNGImage.decode(path: dir + "/a.png").height > 600)  // curve, spectrogram, words and 53 token rows
    }

    @Test func aPictureThatDoesNotFitIsRefused() throws {
        let dir = CLI.tempDir()
        var r = try CLI.run(["attention", Paths.fixture("images/cat.png"), "--model", Paths.model("vit"), "--png", dir + "/p.png",
                             "--picture", "contacts"])
        CLI.expectRejected(r, outputDir: dir, "contacts of an image")
        #expect(r.stderr.contains("the contacts picture does not fit PNG images; use image or heads"))
        r = try CLI.run(["attention", AttentionMapsTests.sentence, "--model", Paths.model("bert"), "--picture", "heads"])
        #expect(r.status == 64 && r.stderr.contains("give --png too"))
    }
}

/// `--html`: one page per family, self-contained, with every kept layer embedded.
@Suite struct AttentionHTMLCLITests {
    @Test(arguments: [
        ("bert", AttentionMapsTests.sentence, 2, false), ("deit-distilled", "images/cat.png", 2, true),
        ("ast", "audio/cards-005.wav", 2, true), ("esm2", "reference/attention/protein.fasta", 3, false),
        ("timesformer", "video/frames/pan", 2, false), ("videomae", "video/frames/pan", 2, true),
    ])
    func everyFamilyWritesAPage(model: String, input: String, layers: Int, picture: Bool) throws {
        let dir = CLI.tempDir()
        let path = model == "bert" ? input : Paths.fixture(input)
        let r = try CLI.run(["attention", path, "--model", Paths.model(model), "--html", dir + "/v.html"])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: dir + "/v.html", encoding: .utf8)
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        for l in 0..<layers { #expect(page.contains("id=\"mmattn-layer-\(l)\"")) }
        #expect(!page.contains("id=\"mmattn-layer-\(layers)\""))
        #expect(page.contains("id=\"mmattn-picture\"") == picture)
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("src=\"//"))
    }

    @Test func crossAttentionPageShowsTheSpectrogram() throws {
        let dir = CLI.tempDir()
        let r = try CLI.run(["attention", Paths.fixture("audio/cards-005.wav"), "--model", Paths.model("whisper-gen"), "--cross",
                             "--layer", "-1", "--html", dir + "/c.html", "--png", dir + "/c.png"])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: dir + "/c.html", encoding: .utf8)
        #expect(page.contains("id=\"mmattn-layer-0\"") && !page.contains("id=\"mmattn-layer-1\""))
        #expect(page.contains("id=\"mmattn-picture\""))
        #expect(FileManager.default.fileExists(atPath: dir + "/c.png"))
    }
}
