import Foundation
import Testing
@testable import MMAttn

/// `AttentionInspector` against transformers' `output_attentions=True` (eager attention) for every
/// family's fixture model (Fixtures/gen_attention.py).
@Suite struct AttentionMapsTests {
    static let sentence = "The animal didn't cross the street because it was tired."

    static func reference(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: Paths.reference("attention/\(name).safetensors"))
    }

    /// Largest |a − b| over two tensors of one shape.
    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a.pointer[i] - b.pointer[i])) }
        return worst
    }

    /// The rows `rows` of the last-but-one axis of `x` ([..., T, K]).
    static func pickRows(_ x: Tensor, _ rows: [Int]) -> Tensor {
        let K = x.shape[x.shape.count - 1], T = x.shape[x.shape.count - 2], outer = x.count / (T * K)
        let out = Tensor(uninitialized: Array(x.shape.dropLast(2)) + [rows.count, K])  // [..., rows, K]
        for o in 0..<outer {
            for (k, r) in rows.enumerated() { (out.data + (o * rows.count + k) * K).update(from: x.pointer + (o * T + r) * K, count: K) }
        }
        return out
    }

    /// Every family, with the input its reference used. Text models read the sentence.
    static let cases: [(name: String, input: String)] = [
        ("bert", sentence), ("roberta", sentence), ("distilbert", sentence), ("gpt2", sentence), ("modernbert", sentence),
        ("qwen3-embedding", sentence), ("st-bert-mean", sentence),
        ("vit", "images/cat.png"), ("deit", "images/cat.png"), ("deit-distilled", "images/cat.png"),
        ("ast", "audio/cards-005.wav"), ("whisper", "audio/cards-005.wav"),
        ("esm2", "reference/attention/protein.fasta"),
        ("timesformer", "video/frames/pan"), ("timesformer-joint", "video/frames/pan"), ("videomae", "video/frames/pan"),
    ]

    static func maps(_ name: String, _ input: String, selection: AttentionSelection = AttentionSelection()) throws -> AttentionMaps {
        let inspector = try AttentionInspector(model: Paths.model(name))
        switch inspector.modality {
        case .text: return try inspector.maps(text: input, selection: selection)
        case .image: return try inspector.maps(imagePath: Paths.fixture(input), selection: selection)
        case .audio: return try inspector.maps(audioPath: Paths.fixture(input), selection: selection)
        case .protein: return try inspector.maps(fasta: Paths.fixture(input), selection: selection)
        case .video: return try inspector.maps(clip: try PNGFrames(folder: Paths.fixture(input)), selection: selection)
        }
    }

    @Test(arguments: cases.map(\.name))
    func matchesTransformers(_ name: String) throws {
        let input = Self.cases.first { $0.name == name }!.input
        let reference = try Self.reference(name)
        let maps = try Self.maps(name, input)
        var ours = maps.probabilities
        if reference.names.contains("rows") {
            ours = Self.pickRows(ours, try reference.tensor("rows").values.map { Int($0) })
        }
        let expected = try reference.tensor("attentions")
        #expect(ours.shape == expected.shape)
        guard ours.shape == expected.shape else { return }
        let diff = Self.maxDifference(ours, expected)
        #expect(diff < 3e-6, "max |Δ| \(diff)")  // measured ≤ 7.3e-7 (AST), most families ≤ 4.5e-7; the issue asks 1e-5
        if reference.names.contains("input_ids") {
            #expect(maps.queries.count == reference.entries["input_ids"]?.shape.first)
        }
        if reference.names.contains("contacts"), case .protein(_, _, let contacts?) = maps.source {
            let c = Self.maxDifference(contacts, try reference.tensor("contacts"))
            #expect(c < 1e-5, "contacts max |Δ| \(c)")
        }
    }

    @Test func whisperCrossAttentionMatchesTransformers() throws {
        let reference = try Self.reference("whisper-gen")
        let inspector = try AttentionInspector(model: Paths.model("whisper-gen"), crossAttention: true)
        let maps = try inspector.maps(audioPath: Paths.fixture("audio/cards-005.wav"))
        guard case .transcript(let transcript) = maps.source else { Issue.record("not a transcript: \(maps.source)"); return }
        #expect(transcript.tokens.map { Float($0) } == (try reference.tensor("tokens")).values)
        #expect(transcript.promptLength == 2)
        #expect(maps.keys.count == 1500 && maps.queries.count == transcript.tokens.count)
        let rows = try reference.tensor("cross_rows").values.map { Int($0) }
        let ours = Self.pickRows(maps.probabilities, rows)
        let diff = Self.maxDifference(ours, try reference.tensor("cross_attentions"))
        // Measured 1.2e-5: this random decoder makes near one-hot rows from large logits, where float32
        // rounding in another summation order shows; real tiny.en weights give 1.9e-6 on this clip.
        #expect(diff < 4e-5, "max |Δ| \(diff)")
        #expect(maps.rollout == nil)
        // The words are transcribe --word-timestamps' (decoded with timestamp tokens).
        let transcribed = try Transcriber(model: Paths.model("whisper-gen"))
            .transcribe(path: Paths.fixture("audio/cards-005.wav"), options: TranscriptionOptions(wordTimestamps: true))
        #expect(!transcript.words.isEmpty && transcript.words == transcribed.segments.flatMap(\.words))
        #expect(transcript.endsWithEndOfText)
    }

    @Test func aFASTADatabaseIsNotReadPastTheSecondRecord() throws {
        let dir = CLI.tempDir()
        let path = dir + "/db.fasta"
        try ">a first\nMKTAYIAK\n>b\nMKV\n>c broken: no residues\n".write(toFile: path, atomically: true, encoding: .utf8)
        let inspector = try AttentionInspector(model: Paths.model("esm2"))
        let maps = try inspector.maps(fasta: path, selection: AttentionSelection(rollout: false))
        #expect(maps.queries == ["<cls>", "M1", "K2", "T3", "A4", "Y5", "I6", "A7", "K8", "<eos>"])
        #expect(maps.rollout == nil)
        #expect(throws: MMAttnError.self) { try inspector.maps(fasta: path, record: "c") }
    }

    @Test func selectionKeepsSlicesInTheOrderGiven() throws {
        let all = try Self.maps("bert", Self.sentence)
        let some = try Self.maps("bert", Self.sentence, selection: AttentionSelection(layers: [-1], heads: [2, 0]))
        #expect(some.layers == [1] && some.heads == [2, 0])
        let T = all.queries.count, plane = T * T
        #expect(some.probabilities.shape == [1, 2, T, T])
        for (k, h) in [2, 0].enumerated() {
            let a = Array(UnsafeBufferPointer(start: all.probabilities.pointer + (1 * 4 + h) * plane, count: plane))
            let b = Array(UnsafeBufferPointer(start: some.probabilities.pointer + k * plane, count: plane))
            #expect(a == b)
        }
        // Rollout and mean cover every layer and head whatever the selection.
        #expect(some.rollout?.values == all.rollout?.values)
        #expect(some.mean?.values == all.mean?.values)
    }

    @Test func selectionErrorsNameTheRange() throws {
        let selection = AttentionSelection(layers: [5], heads: nil)
        #expect(throws: MMAttnError.self) { try selection.resolved(layers: 2, heads: 4) }
        do { _ = try selection.resolved(layers: 2, heads: 4) } catch let e as MMAttnError {
            #expect(e.message.contains("there is no layer 5") && e.message.contains("0…1"))
        }
        #expect(throws: MMAttnError.self) { try AttentionSelection(layers: [-3]).resolved(layers: 2, heads: 4) }
        #expect(throws: MMAttnError.self) { try AttentionSelection(heads: [4]).resolved(layers: 2, heads: 4) }
        #expect(throws: MMAttnError.self) { try AttentionSelection(layers: [1, -1]).resolved(layers: 2, heads: 4) }
        #expect(try AttentionSelection(layers: [-2, 1]).resolved(layers: 2, heads: 4).layers == [0, 1])
    }

    /// Rollout = Π (½·mean_h A + ½·I), last layer leftmost, computed here directly from the maps.
    @Test func rolloutAndMeanFollowTheirDefinitions() throws {
        let maps = try Self.maps("vit", "images/cat.png")
        let p = maps.probabilities, (L, H, T) = (p.shape[0], p.shape[1], p.shape[2])
        var rollout = (0..<(T * T)).map { $0 / T == $0 % T ? 1.0 : 0.0 }
        var mean = [Double](repeating: 0, count: T * T)
        for l in 0..<L {
            var a = [Double](repeating: 0, count: T * T)
            for h in 0..<H {
                for i in 0..<(T * T) {
                    let v = Double(p.pointer[(l * H + h) * T * T + i])
                    a[i] += 0.5 * v / Double(H)
                    mean[i] += v / Double(L * H)
                }
            }
            for i in 0..<T { a[i * T + i] += 0.5 }
            var next = [Double](repeating: 0, count: T * T)
            for i in 0..<T { for k in 0..<T { let x = a[i * T + k]; for j in 0..<T { next[i * T + j] += x * rollout[k * T + j] } } }
            rollout = next
        }
        let ours = try #require(maps.rollout)
        let r = zip(ours.values, rollout).map { abs(Double($0) - $1) }.max()!
        let m = zip(try #require(maps.mean).values, mean).map { abs(Double($0) - $1) }.max()!
        #expect(r < 1e-6 && m < 1e-6, "rollout \(r), mean \(m)")  // measured 1.6e-7 and 4.7e-9
        // Rollout rows stay distributions.
        for i in 0..<T { #expect(abs(ours.values[(i * T)..<((i + 1) * T)].reduce(0, +) - 1) < 1e-5) }
    }
}
