import Foundation
import Testing
@testable import MMAttn

/// The checkpoint forms of `Fixtures/checkpoint-forms` (made by `Fixtures/gen_checkpoint_forms.py`
/// from the fixture models): `pytorch_model.bin` (zip, sharded, and the format before torch 1.6)
/// and transformers 5 module names give every family exactly the outputs of the published
/// `model.safetensors` (the tensors are the same bits); stored ESM rotary frequencies are used as
/// transformers uses them; malicious and damaged pickles are refused with a clear error.
@Suite struct CheckpointFormTests {
    static func form(_ path: String) -> String { Paths.fixture("checkpoint-forms/\(path)") }

    /// `data` with the first occurrence of `old` replaced by `new` (same length).
    static func replacing(_ old: String, with new: String, in data: Data) -> Data {
        var out = data
        if let r = out.range(of: Data(old.utf8)) { out.replaceSubrange(r, with: Data(new.utf8)) }
        return out
    }

    /// A temporary model folder: `Fixtures/models/<model>` without its weights, plus `weights`
    /// (a file and its name in the folder).
    static func folder(_ model: String, _ weights: [(file: String, name: String)]) throws -> String {
        let dir = CLI.tempDir()
        for f in try FileManager.default.contentsOfDirectory(atPath: Paths.model(model)) where !f.hasPrefix("model.safetensors") {
            try FileManager.default.copyItem(atPath: Paths.model(model) + "/" + f, toPath: dir + "/" + f)
        }
        for (file, name) in weights { try FileManager.default.copyItem(atPath: file, toPath: dir + "/" + name) }
        return dir
    }

    /// Every output the family computes on its reference input, in one list: what must not change
    /// with the form of the checkpoint.
    static func outputs(_ model: String, folder path: String) throws -> [Float] {
        let folder = try ModelFolder(path)
        let weights = try folder.checkpoint()
        switch model {
        case "vit", "deit", "deit-distilled":
            let vit = try ViT(config: folder.config, weights: weights)
            let pixels = try reference("\(model == "vit" ? "vit" : "deit")/cat_pixel_values.npy")
            let out = try vit.forward(pixels, options: EncoderOptions(hiddenStates: true))
            return out.lastHiddenState.values + out.hiddenStates.flatMap(\.values) + (try vit.logits(lastHiddenState: out.lastHiddenState)).values
        case "ast":
            let ast = try AST(config: folder.config, weights: weights)
            let hidden = try ast.forward(features: try reference("ast/input_values.npy"))
            return hidden.values + (try ast.logits(pooled: ast.pooled(hidden))).values
        case "whisper", "whisper-model":
            let encoder = try WhisperEncoder(config: folder.config, weights: weights)
            let features = Tensor(zeros: [encoder.numMelBins, encoder.inputFrames])
            for i in 0..<features.count { features.data[i] = Float(i % 997) / 997 - 0.5 }
            return try encoder.forward(features: features).values
        case "esm2", "esm2-model":
            let esm = try ESM2(config: folder.config, weights: weights)
            let ids = try reference("esm2/trunc120_input_ids.npy")
            let tokens = (0..<ids.shape[1]).map { Int32(ids.data[$0]) }
            let out = try esm.forward(tokens: [tokens], repr: Set(0...esm.numLayers), contacts: true)
            return (0...esm.numLayers).flatMap { out.representations[$0]?.values ?? [] } + out.contacts[0].values
        default:
            let text = try loadTextModel(folder, weights: weights)
            let out = try text.forward(ids: [[1, 5, 9, 14, 27, 3, 40], [4, 8, 15]], typeIds: nil, options: TextForwardOptions(hiddenStates: true))
            return out.lastHiddenState.values + out.hiddenStates.flatMap(\.values)
        }
    }

    static let models = ["vit", "deit", "deit-distilled", "ast", "whisper", "whisper-model", "esm2", "esm2-model",
                         "roberta", "distilbert", "gpt2", "st-bert-mean", "st-bert-cls"]

    /// `torch.save(state_dict)` in the zip format; vit's has a transposed and two shared-storage views.
    @Test(arguments: models)
    func pytorchBinGivesTheSameOutputs(model: String) throws {
        let bin = Self.form("\(model.hasPrefix("st-bert") ? "st-bert" : model)/pytorch_model.bin")
        let dir = try Self.folder(model, [(bin, "pytorch_model.bin")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let published = try Self.outputs(model, folder: Paths.model(model))
        #expect(try Checkpoint(folder: dir).source.hasSuffix("pytorch_model.bin"))
        #expect(try Self.outputs(model, folder: dir) == published, "\(model): pytorch_model.bin")
    }

    @Test func shardedPytorchBinGivesTheSameOutputs() throws {
        let files = ["pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
        let dir = try Self.folder("bert", files.map { (Self.form("bert/\($0)"), $0) })
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoint = try Checkpoint(folder: dir)
        #expect(checkpoint.files.count == 2 && checkpoint.source.hasSuffix("pytorch_model.bin.index.json"))
        #expect(try Self.outputs("bert", folder: dir) == (try Self.outputs("bert", folder: Paths.model("bert"))))
    }

    /// The format `torch.save` wrote before torch 1.6 (five pickles, then the raw storages).
    @Test func legacyPytorchBinGivesTheSameOutputs() throws {
        let dir = try Self.folder("vit", [(Self.form("vit/legacy_pytorch_model.bin"), "pytorch_model.bin")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.outputs("vit", folder: dir) == (try Self.outputs("vit", folder: Paths.model("vit"))))
    }

    /// transformers 5 `state_dict()` names, through each family's name table.
    @Test(arguments: ["vit", "deit", "deit-distilled", "ast", "esm2", "esm2-model"])
    func transformers5NamesGiveTheSameOutputs(model: String) throws {
        let dir = try Self.folder(model, [(Self.form("\(model)/transformers5.safetensors"), "model.safetensors")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.outputs(model, folder: dir) == (try Self.outputs(model, folder: Paths.model(model))), "\(model): transformers 5 names")
    }

    /// The ViT table maps every transformers 5 name to a published one, and nothing else changes.
    @Test func vitTableMapsEveryRenamedTensor() throws {
        let current = try Checkpoint(folder: Self.form("vit/transformers5.safetensors"))
        #expect(current.contains("vit.layers.0.mlp.fc1.weight"))
        let mapped = try current.renamed(by: ViT.checkpointNames)
        #expect(mapped.names == (try Checkpoint(folder: Paths.model("vit"))).names)
        #expect(try mapped.tensor("vit.encoder.layer.1.intermediate.dense.weight").values
                == (try current.tensor("vit.layers.1.mlp.fc1.weight")).values)
        // A published checkpoint goes through unchanged.
        let published = try Checkpoint(folder: Paths.model("vit"))
        #expect(try published.renamed(by: ViT.checkpointNames) === published)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch let e as MMAttnError { return e.message } catch { return "\(error)" }
        return "(no error)"
    }

    @Test func mixedGenerationsAndUnknownNewNamesAreRefused() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let current = try Checkpoint(folder: Self.form("vit/transformers5.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in current.names { tensors[name] = try current.tensor(name).copy() }
        tensors["vit.encoder.layer.1.attention.attention.query.weight"] = tensors["vit.layers.1.attention.q_proj.weight"]
        let mixed = dir + "/mixed.safetensors"
        try SafetensorsWriter.write(tensors, to: mixed)
        let m = message { _ = try Checkpoint(folder: mixed).renamed(by: ViT.checkpointNames) }
        #expect(m.contains("mixes two generations") && m.contains("vit.encoder.layer.1.attention.attention.query.weight") && m.contains("vit.layers."), "\(m)")

        tensors["vit.encoder.layer.1.attention.attention.query.weight"] = nil
        tensors["vit.layers.0.attention.qkv.weight"] = Tensor(zeros: [2])
        let unknown = dir + "/unknown.safetensors"
        try SafetensorsWriter.write(tensors, to: unknown)
        let u = message { _ = try Checkpoint(folder: unknown).renamed(by: ViT.checkpointNames) }
        #expect(u.contains("vit.layers.0.attention.qkv.weight") && u.contains("name table"), "\(u)")
    }

    /// Strided, offset and shared-storage views of F32, F16, BF16 and F64 storages, a scalar and a
    /// Parameter read as their contiguous values.
    @Test func pytorchViewsReadAsTheirValues() throws {
        let bin = try Checkpoint(folder: Self.form("views/pytorch_model.bin"))
        let expected = try SafetensorsFile(path: Self.form("views/expected.safetensors"))
        #expect(Set(bin.names) == Set(expected.names))
        for name in expected.names {
            let t = try bin.tensor(name)
            #expect(t.shape == expected.info(name)?.shape, "\(name)")
            #expect(t.values == (try expected.tensor(name)).values, "\(name)")
        }
        #expect(bin.info("half_t")?.dtype == "F16" && bin.info("bf16_rows")?.dtype == "BF16" && bin.info("f64_permuted")?.dtype == "F64")
    }

    /// A fine-tuned ESM-2 stores every layer's rotary inv_freq rounded through bf16; transformers
    /// uses the stored values (recomputing them moves the hidden states by 3.7e-3 after one layer
    /// in this tiny model, see the manifest).
    @Test func esmStoredRotaryFrequenciesWin() throws {
        let dir = try Self.folder("esm2", [(Self.form("esm2-bf16/model.safetensors"), "model.safetensors")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try ModelFolder(dir)
        let esm = try ESM2(config: folder.config, weights: try folder.checkpoint())
        let ids = try NPY.read(Self.form("esm2-bf16/input_ids.npy"))
        let expected = try NPY.read(Self.form("esm2-bf16/hidden_states.npy"))  // [layers + 1, 122, D]
        let out = try esm.forward(tokens: [(0..<ids.shape[1]).map { Int32(ids.data[$0]) }], repr: Set(0...esm.numLayers), contacts: false)
        for l in 0...esm.numLayers {
            expectClose(try #require(out.representations[l]), slice(expected, l), tolerance: 1e-5, "layer \(l)")  // measured 2.4e-6
        }
        // The exact fp32 frequencies that models/esm2 stores would not pass.
        let published = try ESM2(config: folder.config, weights: try Checkpoint(folder: Paths.model("esm2")))
        let exact = try published.forward(tokens: [(0..<ids.shape[1]).map { Int32(ids.data[$0]) }], repr: [1], contacts: false)
        #expect(maxAbsDiff(try #require(exact.representations[1]), slice(expected, 1)) > 1e-3)
    }

    /// A pickle calling os.system is refused, naming the global (BadInputCLITests also checks,
    /// through the command, that its marker file is never created).
    @Test(arguments: ["malicious.bin", "malicious_legacy.bin"])
    func maliciousPicklesAreRefused(file: String) throws {
        let m = message { _ = try Checkpoint(folder: Self.form("bad/\(file)")) }
        #expect((m.contains("posix.system") || m.contains("os.system")) && m.contains("nothing in it was run"), "\(m)")
    }

    @Test func damagedPytorchFilesAreClearErrors() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = try Data(contentsOf: URL(fileURLWithPath: Self.form("vit/pytorch_model.bin")))
        let cases: [(String, Data, String)] = [
            ("truncated.bin", good.prefix(good.count / 2), "truncated"),
            ("checksum.bin", Self.replacing("OrderedDict", with: "OrderedDicu", in: good), "fails its zip checksum"),
            ("empty.bin", Data(), "empty"),
            ("lfs.bin", Data("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n".utf8), "git lfs pull"),
            ("text.bin", Data("hello".utf8), "not a PyTorch weights file"),
        ]
        for (name, data, expected) in cases {
            let path = dir + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            let m = message { _ = try Checkpoint(folder: path) }
            #expect(m.contains(expected), "\(name): \(m)")
        }
        // A million nested tuples: refused before the value gets deep enough to overflow the stack when released.
        let deep = dir + "/deep.bin"
        try Data([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]).write(to: URL(fileURLWithPath: deep))
        let d = message { _ = try Checkpoint(folder: deep) }
        #expect(d.contains("nest more than 100 levels"), "\(d)")
        // A list nested, then grown through the memo (a million times, each one level deeper than its
        // recorded depth), and a list appended to itself: both refused.
        var chain: [UInt8] = [0x80, 0x02, 0x5D, 0x72, 0, 0, 0, 0]  // EMPTY_LIST LONG_BINPUT 0
        func le(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        for i in 0..<1_000_000 {
            chain += [0x6A] + le(i) + [0x5D, 0x72] + le(i + 1) + [0x61, 0x30]  // LONG_BINGET i, EMPTY_LIST, LONG_BINPUT i+1, APPEND, POP
        }
        for (name, bytes) in [("chain.bin", chain + [0x2E]), ("self.bin", [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E])] {
            let path = dir + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let m = message { _ = try Checkpoint(folder: path) }
            #expect(m.contains("changes a container already placed inside another"), "\(name): \(m)")
        }
        for (file, expected) in [("compressed.bin", "compressed"), ("unknown_global.bin", "argparse.Namespace"),
                                 ("small_storage.bin", "holds 2 elements"), ("far_offset.bin", "past the end of its storage")] {
            let m = message { _ = try Checkpoint(folder: Self.form("bad/\(file)")).tensor("weight") }
            #expect(m.contains(expected), "\(file): \(m)")
        }
    }

    /// id2label must have one label per classifier row.
    @Test(arguments: ["vit", "deit-distilled", "ast"])
    func id2labelOfAnotherSizeIsAnError(model: String) throws {
        let dir = try Self.folder(model, [(Paths.model(model) + "/model.safetensors", "model.safetensors")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // config.json without label 0 in id2label.
        let config = dir + "/config.json"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any])
        var labels = try #require(json["id2label"] as? [String: Any])
        labels["0"] = nil
        json["id2label"] = labels
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: config))
        let rows = model == "ast" ? 12 : 10
        let m = message {
            let folder = try ModelFolder(dir)
            if model == "ast" { _ = try AST(config: folder.config, weights: try folder.checkpoint()) } else {
                _ = try ViT(config: folder.config, weights: try folder.checkpoint())
            }
        }
        #expect(m.contains("id2label has \(rows - 1) labels") && m.contains("\(rows) rows"), "\(m)")
    }
}
