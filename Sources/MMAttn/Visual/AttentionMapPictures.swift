import Foundation

extension AttentionInspector.Modality {
    /// The picture that suits this modality's inputs.
    public var defaultPicture: AttentionMaps.Picture {
        switch self {
        case .text: return .heads
        case .image: return .image
        case .audio: return .audio
        case .protein: return .contacts
        case .video: return .frames
        }
    }
}

extension AttentionMaps.Picture {
    /// Refuse a picture that cannot be drawn for inputs of `modality`: `heads` fits every input,
    /// the others their own modality only.
    public func check(_ modality: AttentionInspector.Modality) throws {
        let suited = modality.defaultPicture
        guard self != .heads && self != suited else { return }
        throw MMAttnError("the \(rawValue) picture does not fit \(modality.phrase); use " + (suited == .heads ? "heads" : "\(suited.rawValue) or heads"))
    }
}

extension AttentionMaps {
    /// The pictures `picture(_:title:)` draws.
    public enum Picture: String, Sendable, CaseIterable {
        /// A grid of heatmaps, one per kept head of one layer (any model).
        case heads
        /// The [CLS] token's attention over the patches and the rollout, over the picture (ViT, DeiT).
        case image
        /// Attention over the log-mel spectrogram on one time axis; with a transcript, each token's
        /// alignment to the audio (Whisper, AST).
        case audio
        /// Predicted contacts beside the mean attention map (ESM-2).
        case contacts
        /// Each frame with its rollout map, in a strip (TimeSformer, VideoMAE).
        case frames
    }

    /// The picture that suits the input: `image`, `audio`, `contacts`, `frames`, or `heads` for text.
    public var defaultPicture: Picture { source.modality.defaultPicture }

    /// The refusal of a checkpoint without ESM-2's contact head.
    static func noContactHead(file: String? = nil) -> MMAttnError {
        MMAttnError("this checkpoint has no contact head (contact_head.regression), so there are no contacts to draw; the heads picture works", file: file)
    }

    /// Draw `kind` (default: `defaultPicture`). Per-layer pictures use the last kept layer and the
    /// kept heads; rollout, contacts and mean cover every layer.
    public func picture(_ kind: Picture? = nil, title: String) throws -> Canvas {
        let kind = kind ?? defaultPicture
        try kind.check(source.modality)
        guard let layer = layers.last else { throw MMAttnError("no layer was kept to draw") }
        switch (kind, source) {
        case (.heads, _): return try headGrid(title: title)
        case (.image, .image(let image, let rows, let cols, let prefix)):
            let cls = try lastLayerHeadMean()  // [T, T]
            var maps = [(title: "[CLS] attention, layer \(layer)" + (heads.count == headCount ? "" : ", " + headPhrase), values: Self.row(cls, 0, from: prefix))]
            if let rollout { maps.append((title: "attention rollout, all \(layerCount) layers", values: Self.row(rollout, 0, from: prefix))) }
            return try AttentionPictures.imageAttention(image: image, rows: rows, cols: cols, maps: maps, title: title)
        case (.audio, .audio(let audio)):
            return try audioPicture(audio, layer: layer, title: title)
        case (.audio, .transcript(let transcript)):
            return try transcriptPicture(transcript, layer: layer, title: title)
        case (.contacts, .protein(_, let residues, let contacts)):
            guard let contacts else { throw Self.noContactHead() }
            guard let mean, case let L = residues.count, mean.shape == [L + 2, L + 2] else { throw MMAttnError("no mean attention to draw") }
            let inner = Tensor(uninitialized: [L, L])  // residues only: rows and columns 1…L
            for i in 0..<L { (inner.data + i * L).update(from: mean.pointer + (i + 1) * (L + 2) + 1, count: L) }
            return try AttentionPictures.proteinContacts(contacts: contacts, meanAttention: inner, residues: residues, title: title,
                                                         attentionTitle: "mean attention, all \(layerCount) layers × \(headCount) heads")
        case (.frames, .video(let video)):
            return try framesPicture(video, title: title)
        default:
            preconditionFailure("\(kind) passed check(\(source.modality)) but has no drawing")
        }
    }

    /// "head 3" or "mean of 4 heads".
    var headPhrase: String { heads.count == 1 ? "head \(heads[0])" : "mean of \(heads.count) heads" }

    /// The head grid of the last kept layer; divided TimeSformer layers show each (frame, head) pair.
    func headGrid(title: String) throws -> Canvas {
        let p = probabilities, l = layers.count - 1
        let panels = p.count / (layers.count * p.shape[p.shape.count - 2] * p.shape[p.shape.count - 1])
        let (Tq, Tk) = (p.shape[p.shape.count - 2], p.shape[p.shape.count - 1])
        let slice = Tensor(uninitialized: [panels, Tq, Tk])  // [H', Tq, Tk] (divided: [F·H', S, S])
        slice.data.update(from: p.pointer + l * panels * Tq * Tk, count: panels * Tq * Tk)
        let names = p.shape.count == 5
            ? (0..<p.shape[1]).flatMap { f in heads.map { "frame \(f) · head \($0)" } }
            : heads.map { "head \($0)" }
        return try AttentionPictures.headGrid(slice, headNames: names, layerName: "layer \(layers[l])", queryLabels: queries,
                                              keyLabels: keys, title: title)
    }

    /// The last kept layer averaged over the kept heads, [Tq, Tk] (4-D maps only).
    func lastLayerHeadMean() throws -> Tensor {
        let p = probabilities
        let (H, Tq, Tk) = (p.shape[1], p.shape[2], p.shape[3])
        let last = Tensor(shape: [H, Tq, Tk], storage: TensorStorage(borrowing: p.pointer + (layers.count - 1) * H * Tq * Tk,
                                                                   count: H * Tq * Tk, owner: p.storage))
        return try AttentionRollout.headMean(last)
    }

    /// Row `i` of a square [T, T] map from column `start` on.
    static func row(_ map: Tensor, _ i: Int, from start: Int) -> [Float] {
        let T = map.shape[map.shape.count - 1]
        return Array(UnsafeBufferPointer(start: map.pointer + i * T + start, count: T - start))
    }

    /// What each key receives in the last kept layer: summed over the kept heads, averaged over
    /// `queryRows`, [Tk].
    func received(queryRows: Range<Int>) -> [Float] {
        let p = probabilities
        let (H, Tq, Tk) = (p.shape[1], p.shape[2], p.shape[3])
        var out = [Float](repeating: 0, count: Tk)
        let base = p.pointer + (layers.count - 1) * H * Tq * Tk
        for h in 0..<H {
            for i in queryRows {
                let row = base + (h * Tq + i) * Tk
                for j in 0..<Tk { out[j] += row[j] }
            }
        }
        let scale = 1 / Float(max(queryRows.count, 1))
        return out.map { $0 * scale }
    }

    /// Whisper's encoder or AST over the audio's frames (the padding after it is left out).
    func audioPicture(_ audio: AudioTokens, layer: Int, title: String) throws -> Canvas {
        let T = queries.count
        let perToken = received(queryRows: 0..<T)
        // Per time step: summed over the frequency bands of a step (AST), the prefix left out.
        var curve = [Float](repeating: 0, count: audio.steps)
        for k in 0..<(audio.bands * audio.steps) { curve[k % audio.steps] += perToken[audio.prefix + k] }
        let seconds = max(Double(audio.audioFrames) * 0.01, 1)
        let steps = min(audio.steps, Int((seconds / audio.secondsPerStep).rounded(.up)))
        return try AttentionPictures.audioAttention(logMel: Self.columns(audio.logMel, upTo: Int((seconds / 0.01).rounded(.up))),
                                                    secondsPerFrame: 0.01, attention: Array(curve.prefix(steps)),
                                                    secondsPerStep: audio.secondsPerStep,
                                                    attentionTitle: "attention received, layer \(layer), sum of \(heads.count == headCount ? "all " : "")\(heads.count) heads",
                                                    title: title)
    }

    /// Whisper's decoder over the audio: the text tokens' cross-attention, and with alignment heads
    /// each token's alignment and the words' times.
    func transcriptPicture(_ t: TranscriptTokens, layer: Int, title: String) throws -> Canvas {
        let N = t.tokens.count, F = keys.count
        let text = t.promptLength..<max(t.promptLength, t.endsWithEndOfText ? N - 1 : N)  // the generated tokens, end-of-text left out
        let seconds = max(Double(t.audioFrames) * 0.01, 1)
        let steps = min(F, Int((seconds / 0.02).rounded(.up)))
        let curve = received(queryRows: text)
        var transcript: AttentionPictures.Transcript?
        if let alignment = t.alignment, !text.isEmpty {
            let rows = Tensor(uninitialized: [text.count, steps])  // [text tokens, steps]
            for (r, i) in text.enumerated() { (rows.data + r * steps).update(from: alignment.pointer + i * F, count: steps) }
            transcript = AttentionPictures.Transcript(words: t.words, alignment: rows, labels: Array(queries[text]), secondsPerStep: 0.02)
        }
        return try AttentionPictures.audioAttention(logMel: Self.columns(t.logMel, upTo: Int((seconds / 0.01).rounded(.up))),
                                                    secondsPerFrame: 0.01, attention: Array(curve.prefix(steps)), secondsPerStep: 0.02,
                                                    attentionTitle: "cross-attention received from the text, layer \(layer), sum of \(heads.count) heads",
                                                    title: title, transcript: transcript)
    }

    /// The first `count` columns of a [rows, cols] matrix.
    static func columns(_ x: Tensor, upTo count: Int) -> Tensor {
        let (r, c) = (x.shape[0], x.shape[1]), n = min(max(count, 1), c)
        let out = Tensor(uninitialized: [r, n])  // [rows, n]
        for i in 0..<r { (out.data + i * n).update(from: x.pointer + i * c, count: n) }
        return out
    }

    /// Each frame with the rollout map of its patches: [CLS]'s row (TimeSformer), or what each token
    /// receives on average (VideoMAE, which has no [CLS]).
    func framesPicture(_ v: VideoTokens, title: String) throws -> Canvas {
        guard let rollout else { throw MMAttnError("no rollout to draw") }
        let N = v.rows * v.cols, F = v.frames.count
        var maps: [[Float]] = []
        if v.divided {
            maps = (0..<F).map { f in
                Array(UnsafeBufferPointer(start: rollout.pointer + f * (1 + N) * (1 + N) + 1, count: N))
            }
        } else if v.prefix == 1 {
            let cls = Self.row(rollout, 0, from: 1)  // token 1 + p·F + f
            maps = (0..<F).map { f in (0..<N).map { p in cls[p * F + f] } }
        } else {
            let T = rollout.shape[0]
            var received = [Float](repeating: 0, count: T)
            for i in 0..<T { for j in 0..<T { received[j] += rollout.pointer[i * T + j] / Float(T) } }
            maps = (0..<F).map { f in Array(received[(f / v.tubelet * N)..<(f / v.tubelet * N + N)]) }
        }
        let what = v.prefix == 1 ? "[CLS] rollout" : "rollout, attention received"
        return try AttentionPictures.videoStrip(frames: v.frames, rows: v.rows, cols: v.cols, maps: maps,
                                                frameLabels: (0..<F).map { "frame \($0)" }, title: title + " — " + what)
    }
}
