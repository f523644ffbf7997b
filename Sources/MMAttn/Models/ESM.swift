import Foundation

/// ESM-2, as transformers' `EsmModel` (and fair-esm's `ESM2`): token embeddings with token-dropout
/// rescaling, rotary positions on q and k, pre-LN layers, `emb_layer_norm_after`, and the contact
/// head (logistic regression over the symmetrised, APC-corrected attention maps of every layer and
/// head). Loads `EsmModel`, `EsmForMaskedLM` and `EsmForSequenceClassification` names (`esm.` prefix or none).
public final class ESM2: Sendable {
    public let config: EncoderConfig
    public let numLayers: Int
    public let vocabSize: Int
    public let maskTokenId: Int
    public let padTokenId: Int
    public let tokenDropout: Bool

    let wordEmbeddings: Tensor      // embeddings.word_embeddings.weight: [V, D]
    let encoder: Encoder            // encoder.layer.*
    let layerNormAfter: LayerNorm   // encoder.emb_layer_norm_after: [D]
    let contactRegression: Linear?  // contact_head.regression: [1, layers·heads]
    let lmHead: LMHead?             // lm_head.* (EsmForMaskedLM)

    /// `EsmLMHead`: dense, exact GELU, layer norm, then the decoder tied to the word embeddings.
    struct LMHead: Sendable {
        let dense: Linear           // lm_head.dense: [D, D]
        let layerNorm: LayerNorm    // lm_head.layer_norm: [D]
        let decoder: Linear         // embeddings.word_embeddings.weight [V, D] (tied), lm_head.bias [V]
    }

    /// ESM-2's tensor names: transformers 5 kept the module names, so the table is empty. It moved
    /// one buffer: the rotary inverse frequencies, stored per layer in published checkpoints
    /// (`encoder.layer.N.attention.self.rotary_embeddings.inv_freq`), are one model-level buffer
    /// (`rotary_embeddings.inv_freq`) in its `state_dict()`; `storedRotaryFrequencies` reads either.
    public static let checkpointNames = CheckpointNames(family: "ESM-2", [])

    public init(config json: JSONFields, weights: Checkpoint) throws {
        let weights = try weights.renamed(by: Self.checkpointNames)
        var c = try json.encoderConfig(normPlacement: .pre)
        let positions = try json.string("position_embedding_type") ?? "absolute"
        guard positions == "rotary" else {
            throw MMAttnError("position_embedding_type \"\(positions)\" is not supported: mmattn runs ESM-2 (rotary); ESM-1b style absolute positions are not implemented", file: json.file)
        }
        guard try !json.bool("emb_layer_norm_before", default: false) else {
            throw MMAttnError("emb_layer_norm_before is true: that is ESM-1b, mmattn runs ESM-2", file: json.file)
        }
        let theta = try json.double("rope_theta", default: 10000)
        numLayers = try json.layerCount("num_hidden_layers")
        vocabSize = try json.int("vocab_size", in: 1...JSONFields.Limits.vocabulary)
        maskTokenId = try json.int("mask_token_id", default: 32, in: 0...(vocabSize - 1))
        padTokenId = try json.int("pad_token_id", default: 1, in: 0...(vocabSize - 1))
        tokenDropout = try json.bool("token_dropout", default: true)
        let D = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps

        let w = weights.scoped(try weights.prefix(among: ["esm.", ""], probing: "embeddings.word_embeddings.weight"))
        // Stored frequencies win over recomputing them, as in transformers (fine-tuned checkpoints
        // store them rounded through bf16 or fp16, and the model was trained with those).
        c.rotary = try Self.storedRotaryFrequencies(w, count: c.headDim / 2).map { Rotary(headDim: c.headDim, inverseFrequencies: $0) }
            ?? Rotary(headDim: c.headDim, base: theta)
        config = c
        wordEmbeddings = try w.tensor("embeddings.word_embeddings.weight", shape: [vocabSize, D])
        encoder = Encoder(config: c, layers: try (0..<numLayers).map { i in
            let n = "encoder.layer.\(i)"
            return EncoderLayer(
                attentionNorm: try w.layerNorm("\(n).attention.LayerNorm", width: D, eps: eps),
                query: try w.linear("\(n).attention.self.query", out: D, in: D),
                key: try w.linear("\(n).attention.self.key", out: D, in: D),
                value: try w.linear("\(n).attention.self.value", out: D, in: D),
                attentionOutput: try w.linear("\(n).attention.output.dense", out: D, in: D),
                mlpNorm: try w.layerNorm("\(n).LayerNorm", width: D, eps: eps),
                intermediate: try w.linear("\(n).intermediate.dense", out: I, in: D),
                output: try w.linear("\(n).output.dense", out: D, in: I))
        })
        layerNormAfter = try w.layerNorm("encoder.emb_layer_norm_after", width: D, eps: eps)
        contactRegression = w.contains("contact_head.regression.weight")
            ? try w.linear("contact_head.regression", out: 1, in: numLayers * c.numHeads, dtype: .f32) : nil  // read as weights
        let head = weights.scoped("lm_head.")
        lmHead = head.contains("dense.weight")
            ? LMHead(dense: try head.linear("dense", out: D, in: D),
                     layerNorm: try head.layerNorm("layer_norm", width: D, eps: eps),
                     decoder: Linear(weight: wordEmbeddings, bias: try head.tensor("bias", shape: [vocabSize]),
                                     dtype: weights.dtype))
            : nil
    }

    /// The rotary inverse frequencies [dh/2] the checkpoint stores, as transformers 5.24 picks
    /// them: the model-level `rotary_embeddings.inv_freq`, else the first per-layer
    /// `encoder.layer.*.attention.self.rotary_embeddings.inv_freq` in name order (layer 0's), used
    /// for every layer; nil when none is stored.
    static func storedRotaryFrequencies(_ w: CheckpointScope, count: Int) throws -> [Float]? {
        let suffix = ".attention.self.rotary_embeddings.inv_freq"
        let perLayer = w.checkpoint.names.filter { $0.hasPrefix(w.prefix + "encoder.layer.") && $0.hasSuffix(suffix) }
        let name: String
        if w.contains("rotary_embeddings.inv_freq") {
            name = "rotary_embeddings.inv_freq"
        } else if let first = perLayer.first {
            name = String(first.dropFirst(w.prefix.count))
        } else {
            return nil
        }
        let values = try w.tensor(name, shape: [count]).values
        guard values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw MMAttnError("\(w.prefix)\(name) holds a rotary frequency that is not a positive number: the checkpoint is damaged", file: w.checkpoint.source)
        }
        for other in perLayer where other != w.prefix + name {
            if try w.checkpoint.tensor(other, shape: [count]).values != values {
                Diagnostics.warn("\(w.checkpoint.source): \(other) differs from \(w.prefix)\(name); every layer uses the latter, as transformers 5 does")
                break
            }
        }
        return values
    }

    /// True for `EsmForMaskedLM` checkpoints.
    public var hasLMHead: Bool { lmHead != nil }

    /// Masked-LM logits of a last representation (layer `numLayers`, after `emb_layer_norm_after`;
    /// [..., D]): [..., V], as `EsmForMaskedLM` gives them.
    public func maskedLMLogits(_ representation: Tensor) throws -> Tensor {
        guard let lmHead else {
            throw MMAttnError("this checkpoint has no lm_head: masked-LM logits need an EsmForMaskedLM checkpoint")
        }
        let x = lmHead.dense(representation)
        Kernels.activate(x.data, count: x.count, .gelu)
        return lmHead.decoder(lmHead.layerNorm(x))
    }

    public var hasContactHead: Bool { contactRegression != nil }

    /// What one forward pass over a batch returns.
    public struct Output {
        /// Representations by layer index (0 = embeddings, `numLayers` = the last layer after
        /// `emb_layer_norm_after`), each [B, T, D]; only the requested layers are kept.
        public var representations: [Int: Tensor]
        /// Contact probabilities per batch item, [L, L] over the L residues (no BOS/EOS).
        public var contacts: [Tensor]
    }

    /// Run a right-padded batch of token sequences (`tokens` [B, T] as ids; `lengths[b]` real tokens
    /// including BOS and EOS). Padding never changes an item's outputs. `attentionSink` hears each
    /// layer's probabilities, [B, H, T, T] with T the longest item (packed items are padded apart).
    public func forward(tokens: [[Int32]], repr layers: Set<Int>, contacts: Bool,
                        attentionSink: ((Int, Tensor) -> Void)? = nil) throws -> Output {
        let B = tokens.count, T = tokens.map(\.count).max() ?? 0, D = config.hiddenSize
        let lengths = tokens.map(\.count)
        // Packed: the padding of a batch costs nothing; results come back right-padded.
        let layout = SequenceLayout.packed(lengths: lengths)
        let x = Tensor(zeros: [layout.rows, D])  // [Σ lengths, D]
        for (b, seq) in tokens.enumerated() {
            var masked = 0
            let first = x.data + layout.starts[b] * D
            for (t, id) in seq.enumerated() {
                guard id >= 0, Int(id) < vocabSize else { throw MMAttnError("token id \(id) is outside the vocabulary of \(vocabSize)") }
                if tokenDropout && Int(id) == maskTokenId { masked += 1; continue }  // masked tokens embed as zeros
                (first + t * D).update(from: wordEmbeddings.pointer + Int(id) * D, count: D)
            }
            if tokenDropout {
                // Scale by (1 − 0.15·0.8) / (1 − observed mask ratio), as trained.
                let observed = Float(masked) / Float(seq.count)
                let scale = (1 - 0.15 * 0.8) / (1 - observed)
                for i in 0..<(seq.count * D) { first[i] *= scale }
            }
        }

        let contactLogits: [Tensor] = contacts ? lengths.map { Tensor(zeros: [max($0 - 2, 0), max($0 - 2, 0)]) } : []
        if contacts && contactRegression == nil {
            throw MMAttnError("this checkpoint has no contact_head: contact maps need an ESM-2 checkpoint with contact regression weights")
        }
        // Only the intermediate layers asked for are kept; the last comes from the final state.
        var options = EncoderOptions(keptStates: Set(layers.filter { $0 < numLayers }), attentionSink: attentionSink)
        if contacts, let regression = contactRegression {
            let heads = config.numHeads
            let scratch = ContactScratch(residues: max((lengths.max() ?? 0) - 2, 0), heads: heads)  // reused by every layer
            options.attentionSink = { layer, probs in
                attentionSink?(layer, probs)
                for b in 0..<B {
                    ESM2.accumulateContactFeatures(probs.data + b * heads * T * T, tokens: T, length: lengths[b],
                                                   weights: regression.weight.pointer + layer * heads,
                                                   into: contactLogits[b], scratch: scratch)
                }
            }
        }
        let out = try encoder(x, layout: layout, options: options)
        var reps: [Int: Tensor] = [:]
        for l in layers where l < numLayers { reps[l] = out.keptStates[l].map { layout.unpack($0, tokens: T) } }
        if layers.contains(numLayers) {
            reps[numLayers] = layerNormAfter(layout.unpack(out.lastHiddenState, tokens: T))
        }
        if contacts, let regression = contactRegression {
            let bias = regression.bias?.pointer[0] ?? 0
            for t in contactLogits {
                for i in 0..<t.count { t.data[i] = 1 / (1 + Foundation.exp(-(t.data[i] + bias))) }
            }
        }
        return Output(representations: reps, contacts: contactLogits)
    }

    /// Buffers of the contact reduction, sized for the longest record of a batch (L residues).
    struct ContactScratch {
        /// Rows of the residue block one task of the first pass reduces; fixed so that sums are
        /// added in the same order whatever the thread count.
        static let chunkRows = 32
        let weighted: Tensor        // [L, L] Σₕ wₕ·Aₕ over the residue block
        let rowSums: Tensor         // [H, L] row sums of each head's block
        let columnPartials: Tensor  // [chunks, H, L] column sums of each head over one chunk of rows
        let sums: Tensor            // [H, L] row + column sums of each head's block (row sums of A + Aᵀ)
        let coefficients: Tensor    // [H] wₕ / Σᵢ sumsₕ[i]

        init(residues L: Int, heads H: Int) {
            let chunks = (L + ContactScratch.chunkRows - 1) / ContactScratch.chunkRows
            weighted = Tensor(uninitialized: [L, L])
            rowSums = Tensor(uninitialized: [H, L])
            columnPartials = Tensor(uninitialized: [chunks, H, L])
            sums = Tensor(uninitialized: [H, L])
            coefficients = Tensor(uninitialized: [H])
        }
    }

    /// Add Σₕ wₕ·APC(Aₕ + Aₕᵀ) to `out` ([L, L]), where Aₕ is head h's attention map restricted to
    /// the residues (rows and columns 1...L of a sequence of `length` = L + 2 tokens; `probs` is
    /// [H, T, T]) and APC(S) = S − rᵢ·rⱼ / Σr with r the row sums of the symmetric S. Summed over
    /// heads this is (M + Mᵀ) − Σₕ (wₕ/Σrₕ)·rₕ·rₕᵀ with M = Σₕ wₕ·Aₕ, so every map is read once, by
    /// rows. Each output element is summed in an order that does not depend on the thread count.
    static func accumulateContactFeatures(_ probs: UnsafePointer<Float>, tokens T: Int, length: Int, weights: UnsafePointer<Float>,
                                          into out: Tensor, scratch: ContactScratch) {
        let L = length - 2
        guard L > 0 else { return }
        let H = scratch.coefficients.count, ld = scratch.weighted.shape[1]  // row length of the scratch: the batch's longest L
        let chunkRows = ContactScratch.chunkRows, chunks = (L + chunkRows - 1) / chunkRows
        let m = scratch.weighted.data, rowSums = scratch.rowSums.data, partials = scratch.columnPartials.data
        let sums = scratch.sums.data, coefficients = scratch.coefficients.data, o = out.data
        // Pass 1, over chunks of rows: M's rows, each head's row sums and per-chunk column sums.
        Threads.parallelFor(chunks) { c0, c1 in
            for c in c0..<c1 {
                let columns = partials + c * H * ld  // [H, L] for this chunk
                for h in 0..<H { (columns + h * ld).update(repeating: 0, count: L) }
                for i in (c * chunkRows)..<min((c + 1) * chunkRows, L) {
                    let mi = m + i * ld
                    for h in 0..<H {
                        let row = probs + h * T * T + (i + 1) * T + 1
                        let w = weights[h], column = columns + h * ld
                        if h == 0 {
                            for j in 0..<L { mi[j] = w * row[j] }
                        } else {
                            for j in 0..<L { mi[j] += w * row[j] }
                        }
                        for j in 0..<L { column[j] += row[j] }
                        rowSums[h * ld + i] = Kernels.sum(row, L)
                    }
                }
            }
        }
        // Pass 2, over heads: r = row sums + column sums (chunks added in order), and wₕ / Σr.
        Threads.parallelFor(H) { h0, h1 in
            for h in h0..<h1 {
                let r = sums + h * ld
                r.update(from: rowSums + h * ld, count: L)
                for c in 0..<chunks {
                    let column = partials + (c * H + h) * ld
                    for i in 0..<L { r[i] += column[i] }
                }
                coefficients[h] = weights[h] / Kernels.sum(r, L)
            }
        }
        // Pass 3, over tiles of output rows: out += M + Mᵀ (transposed reads within 32×32 tiles),
        // then out −= Σₕ (wₕ/Σrₕ)·rₕ·rₕᵀ.
        Threads.parallelFor(chunks) { c0, c1 in
            for i0 in stride(from: c0 * chunkRows, to: min(c1 * chunkRows, L), by: chunkRows) {
                let i1 = min(i0 + chunkRows, L)
                for j0 in stride(from: 0, to: L, by: chunkRows) {
                    let j1 = min(j0 + chunkRows, L)
                    for i in i0..<i1 {
                        let oi = o + i * L, mi = m + i * ld
                        for j in j0..<j1 { oi[j] += mi[j] + m[j * ld + i] }
                    }
                }
                for i in i0..<i1 {
                    let oi = o + i * L
                    for h in 0..<H {
                        let r = sums + h * ld, a = coefficients[h] * r[i]
                        for j in 0..<L { oi[j] -= a * r[j] }
                    }
                }
            }
        }
    }
}
