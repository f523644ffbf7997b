import Foundation

/// Which layers and heads an attention run keeps, and whether it computes the rollout. Indices
/// count from 0; negative layer indices count from the end (-1 is the last layer). Nil keeps all.
public struct AttentionSelection: Sendable, Equatable {
    public var layers: [Int]?
    public var heads: [Int]?
    /// Attention rollout over all layers costs a T × T matrix product per layer; leave it out
    /// when nothing reads it.
    public var rollout: Bool

    public init(layers: [Int]? = nil, heads: [Int]? = nil, rollout: Bool = true) {
        self.layers = layers
        self.heads = heads
        self.rollout = rollout
    }

    /// The selected model indices, in the order given, checked against a model of `L` layers and
    /// `H` heads per layer.
    public func resolved(layers L: Int, heads H: Int) throws -> (layers: [Int], heads: [Int]) {
        func check(_ given: [Int]?, count: Int, what: String, fromEnd: Bool) throws -> [Int] {
            guard let given else { return Array(0..<count) }
            guard !given.isEmpty else { throw MMAttnError("no \(what) selected") }
            var seen = Set<Int>()
            return try given.map { i in
                let r = fromEnd && i < 0 ? count + i : i
                guard (0..<count).contains(r) else {
                    let range = fromEnd ? "0…\(count - 1), or -\(count)…-1 from the end" : "0…\(count - 1)"
                    throw MMAttnError("there is no \(what) \(i): the model has \(count) \(what)s (\(range))")
                }
                guard seen.insert(r).inserted else { throw MMAttnError("\(what) \(i) is selected twice") }
                return r
            }
        }
        return (try check(layers, count: L, what: "layer", fromEnd: true), try check(heads, count: H, what: "head", fromEnd: false))
    }
}

/// Attention probabilities of one input, labelled, with what pictures draw them over.
public struct AttentionMaps: Sendable {
    /// The selected layers and heads: `[L', H', Tq, Tk]`, each row a softmax (masked keys 0), as
    /// transformers' `output_attentions=True` gives them, stacked over layers, batch axis dropped.
    /// TimeSformer's divided space-time layers: the spatial attention of each frame, `[L', F, H', S, S]`.
    public var probabilities: Tensor
    /// The model's index of each kept layer and head.
    public var layers: [Int]
    public var heads: [Int]
    /// Layers and heads the model has.
    public var layerCount: Int
    public var headCount: Int
    /// One label per query and per key (the same list for self-attention).
    public var queries: [String]
    public var keys: [String]
    /// Attention rollout over all layers (Abnar & Zuidema, 2020), `[T, T]` (divided TimeSformer:
    /// `[F, S, S]`, one per frame). Nil for cross-attention.
    public var rollout: Tensor?
    /// The mean of every layer's and head's map, `[T, T]` (divided TimeSformer: `[F, S, S]`).
    public var mean: Tensor?
    /// What the tokens are.
    public var source: AttentionSource

    /// The axes of `probabilities` by name, for messages: "[layers, heads, T, T]".
    public var axes: String {
        probabilities.shape.count == 5 ? "[layers, frames, heads, S, S]" : (queries == keys ? "[layers, heads, T, T]" : "[layers, heads, tokens, frames]")
    }
}

/// What the tokens of an attention map stand for.
public enum AttentionSource: Sendable {
    /// Text tokens, as the tokenizer writes them.
    case text
    /// An image as the model saw it (resized and cropped), `prefix` tokens ([CLS], distillation)
    /// then a `rows` × `cols` grid of patches, row-major.
    case image(RGBImage, rows: Int, cols: Int, prefix: Int)
    /// Audio: the log-mel features `[mels, frames]` (10 ms per frame) and how tokens map to time.
    case audio(AudioTokens)
    /// A protein: its record id, residues (tokens 1…L; 0 is BOS, L+1 EOS) and, when the
    /// checkpoint has a contact head, the predicted contacts `[L, L]`.
    case protein(id: String, residues: String, contacts: Tensor?)
    /// A clip: the frames as the model saw them and the token layout.
    case video(VideoTokens)
    /// A Whisper transcript: the decoder tokens (queries) over the encoder frames (keys).
    case transcript(TranscriptTokens)
}

extension AttentionSource {
    /// What kind of input the tokens come from.
    public var modality: AttentionInspector.Modality {
        switch self {
        case .text: return .text
        case .image: return .image
        case .audio, .transcript: return .audio
        case .protein: return .protein
        case .video: return .video
        }
    }
}

/// How audio tokens map to time.
public struct AudioTokens: Sendable {
    /// Log-mel features, `[mels, frames]`, 10 ms per frame, as the model saw them.
    public var logMel: Tensor
    /// Frames of `logMel` that hold audio (the rest is padding).
    public var audioFrames: Int
    /// Tokens before the time grid ([CLS], distillation).
    public var prefix: Int
    /// The grid after the prefix: `bands` frequency rows × `steps` time columns, row-major (Whisper:
    /// 1 × 1500).
    public var bands: Int
    public var steps: Int
    /// Seconds per time step and the first step's start.
    public var secondsPerStep: Double
}

/// The token layout of a clip.
public struct VideoTokens: Sendable {
    /// The frames the model saw, resized and cropped.
    public var frames: [RGBImage]
    /// Tokens before the patches ([CLS] for TimeSformer).
    public var prefix: Int
    /// Patch grid per frame.
    public var rows: Int
    public var cols: Int
    /// Frames per token in time (VideoMAE's tubelet size; 1 for TimeSformer).
    public var tubelet: Int
    /// Token order after the prefix: TimeSformer patch-major, frame-minor; VideoMAE time-major.
    public var patchMajor: Bool
    /// TimeSformer's divided layers: maps are per frame, `[F, H, 1 + N, 1 + N]` per layer.
    public var divided: Bool
}

/// A transcript's tokens and words, for the cross-attention picture.
public struct TranscriptTokens: Sendable {
    public var logMel: Tensor          // [mels, 3000]
    public var audioFrames: Int        // mel frames of real audio
    /// The decoder's input: prompt, generated tokens, and end-of-text unless decoding stopped at
    /// the length limit.
    public var tokens: [Int32]
    public var endsWithEndOfText: Bool
    /// Tokens of the prompt (start-of-transcript, language, task, no-timestamps).
    public var promptLength: Int
    /// The words and times `transcribe --word-timestamps` gives, when the checkpoint has alignment heads.
    public var words: [WhisperTranscript.Word]
    /// The alignment heads, `(layer, head)`.
    public var alignmentHeads: [(layer: Int, head: Int)]
    /// The alignment heads' cross-attention averaged over heads, `[tokens, 1500]`.
    public var alignment: Tensor?
    /// The text.
    public var text: String
}

/// Collects the probabilities of the selected layers and heads from an encoder's attention sink,
/// and the rollout and mean over all layers and heads.
final class AttentionCollector: @unchecked Sendable {
    // Written by the sink on the calling thread only.
    let layers: [Int], heads: [Int]
    let modelHeads: Int, groups: Int, queries: Int, keys: Int
    /// [L', groups, H', Tq, Tk].
    let kept: Tensor
    /// Sum of every map seen, [groups, Tq, Tk].
    let sum: Tensor
    /// One rollout per group (self-attention only).
    var rollouts: [AttentionRollout]
    var layersSeen = 0

    init(layers: [Int], heads: [Int], modelHeads: Int, groups: Int = 1, queries: Int, keys: Int, rollout: Bool) throws {
        self.layers = layers
        self.heads = heads
        self.modelHeads = modelHeads
        self.groups = groups
        self.queries = queries
        self.keys = keys
        kept = Tensor(zeros: [layers.count, groups, heads.count, queries, keys])
        sum = Tensor(zeros: [groups, queries, keys])
        rollouts = rollout && queries == keys ? try (0..<groups).map { _ in try AttentionRollout(tokens: keys) } : []
    }

    /// One layer's probabilities, `[groups, H, Tq, Tk]`.
    func take(layer: Int, _ probs: Tensor) {
        let H = modelHeads, Tq = queries, Tk = keys, plane = Tq * Tk
        precondition(probs.shape == [groups, H, Tq, Tk], "attention of shape \(probs.shape), expected \([groups, H, Tq, Tk])")
        let src = probs.pointer
        if let l = layers.firstIndex(of: layer) {
            for g in 0..<groups {
                for (k, h) in heads.enumerated() {
                    (kept.data + ((l * groups + g) * heads.count + k) * plane).update(from: src + (g * H + h) * plane, count: plane)
                }
            }
        }
        for g in 0..<groups {
            let total = sum.data + g * plane
            for h in 0..<H {
                let map = src + (g * H + h) * plane
                for i in 0..<plane { total[i] += map[i] }
            }
            if !rollouts.isEmpty { rollouts[g].add(src + g * H * plane, heads: H) }
        }
        layersSeen += 1
    }

    /// The kept maps, `[L', H', Tq, Tk]` (`[L', groups, H', Tq, Tk]` when there are several groups).
    var probabilities: Tensor {
        groups == 1 ? kept.reshaped([layers.count, heads.count, queries, keys]) : kept
    }

    /// The mean over every layer and head seen, `[Tq, Tk]` (`[groups, Tq, Tk]`).
    var mean: Tensor {
        let out = Tensor(uninitialized: sum.shape)  // [groups, Tq, Tk]
        let scale = 1 / Float(max(layersSeen * modelHeads, 1))
        for i in 0..<sum.count { out.data[i] = sum.pointer[i] * scale }
        return groups == 1 ? out.reshaped([queries, keys]) : out
    }

    /// The rollout, `[T, T]` (`[groups, T, T]`), or nil for cross-attention.
    var rollout: Tensor? {
        guard !rollouts.isEmpty else { return nil }
        if groups == 1 { return rollouts[0].result }
        let T = keys
        let out = Tensor(uninitialized: [groups, T, T])  // [groups, T, T]
        for (g, r) in rollouts.enumerated() { (out.data + g * T * T).update(from: r.result.pointer, count: T * T) }
        return out
    }
}
