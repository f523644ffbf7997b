import Foundation

/// What `ProteinEncoder` computes per record (esm-extract's `--include`).
public enum ProteinOutputKind: String, Sendable, CaseIterable {
    /// Mean over residues (no BOS/EOS) of a layer's representation, [D].
    case mean
    /// The representation of every residue, [L, D].
    case perToken = "per-token"
    /// The BOS (`<cls>`) token's representation, [D].
    case bos
    /// Predicted contact probabilities, [L, L].
    case contacts
}

/// Options of a protein embedding run, as esm-extract's.
public struct ProteinEmbeddingOptions: Sendable {
    public var include: Set<ProteinOutputKind> = [.mean]
    /// Layers to return: 0 is the embedding layer, negative counts from the end (-1 = last, after
    /// `emb_layer_norm_after`).
    public var reprLayers: [Int] = [-1]
    public var batch = ProteinBatchOptions()

    public init(include: Set<ProteinOutputKind> = [.mean], reprLayers: [Int] = [-1], batch: ProteinBatchOptions = ProteinBatchOptions()) {
        self.include = include
        self.reprLayers = reprLayers
        self.batch = batch
    }
}

/// One record's outputs.
public struct ProteinEmbedding: Sendable {
    public let id: String
    /// Residues used (after truncation).
    public let length: Int
    /// Per requested layer (non-negative index): mean [D], per-token [L, D], bos [D], when included.
    public var mean: [Int: Tensor] = [:]
    public var perToken: [Int: Tensor] = [:]
    public var bos: [Int: Tensor] = [:]
    /// [L, L] when contacts are included.
    public var contacts: Tensor?
}

/// How far a `ProteinEncoder.embed` run is.
public struct ProteinProgress: Sendable {
    /// Records done, those of a resumed run's earlier part (`skipped`) included.
    public let records: Int
    /// Residues embedded by this run.
    public let residues: Int
    /// Estimated fraction of the file's (or the part's) residues done (nil when the input is a pipe).
    public var fraction: Double?
    /// Records and fraction that were already done when this run started (resuming).
    public var skipped = 0
    public var skippedFraction = 0.0
}

/// Where a protein run stands, for resuming it: the windows wholly done, and the batches done of
/// the next one. Windows and their batches depend only on the records from the run's start, so a
/// resumed run re-reads (without embedding) what was done and continues with the same batches.
public struct ProteinRunPosition: Sendable, Equatable {
    public var window: Int
    public var batch: Int
    public static let start = ProteinRunPosition(window: 0, batch: 0)

    public init(window: Int, batch: Int) {
        self.window = window
        self.batch = batch
    }
}

/// The outputs of one batch of a protein run.
public struct ProteinBatchResult {
    /// The window the batch belongs to, and its place in the run.
    public let window: ProteinWindow
    public let windowIndex: Int
    public let batch: Int
    /// Each record's outputs with its index in the run (file order, from 0).
    public let embeddings: [(index: Int, embedding: ProteinEmbedding)]
    /// The position once this batch is done.
    public var next: ProteinRunPosition {
        batch + 1 == window.batches.count ? ProteinRunPosition(window: windowIndex + 1, batch: 0)
            : ProteinRunPosition(window: windowIndex, batch: batch + 1)
    }
    /// Records of the windows before this one plus those of this window's batches so far.
    public let recordsDone: Int
}

/// FASTA → ESM-2 representations and contact maps, batched as esm-extract does; outputs come back
/// in file order and equal those of each record run alone.
public final class ProteinEncoder: Sendable {
    public let model: ModelFolder
    public let esm: ESM2
    public let alphabet: ESMAlphabet

    /// The model computes in `dtype` (bf16 where the CPU runs it: `DType.runnable`).
    public init(model spec: String, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: [.esm], for: "protein commands", dtype: dtype)
        model = load.folder
        esm = try ESM2(config: model.config, weights: load.checkpoint)
        alphabet = try ESMAlphabet.forModel(folder: model.path)
        guard alphabet.count == esm.vocabSize else {
            throw MMAttnError("vocab.txt has \(alphabet.count) tokens but the model's vocab_size is \(esm.vocabSize)", file: model.file("vocab.txt"))
        }
    }

    /// Resolve esm-extract style layer indices (negative from the end) to 0...numLayers.
    public func resolveLayers(_ layers: [Int]) throws -> [Int] {
        let n = esm.numLayers
        var out: [Int] = []
        for l in layers {
            guard (-(n + 1))...n ~= l else {
                throw MMAttnError("layer \(l) does not exist: this model has layers 0 (embeddings) to \(n), or -\(n + 1) to -1 from the end")
            }
            let r = l < 0 ? n + 1 + l : l
            if !out.contains(r) { out.append(r) }
        }
        return out
    }

    /// Embed every record of a FASTA file; `handle` receives them in file order. `progress` is
    /// called after each batch.
    public func embed(fasta path: String, options: ProteinEmbeddingOptions, range: Range<Int64>? = nil,
                      progress: ((ProteinProgress) -> Void)? = nil, handle: (ProteinEmbedding) throws -> Void) throws {
        var results: [ProteinEmbedding?] = []
        try embedBatches(fasta: path, options: options, range: range, progress: progress) { result in
            if result.batch == 0 { results = Array(repeating: nil, count: result.window.records.count) }
            for (index, e) in result.embeddings { results[index - result.window.firstIndex] = e }
            if result.next.window > result.windowIndex { for r in results { if let r { try handle(r) } } }
        }
    }

    /// Embed the records of a FASTA file, or of the part of it in `range` (`Shard.byteRange`),
    /// batch by batch: `handle` receives each batch's outputs as they are computed (in the order
    /// of the batch plan, not file order). Windows and batches before `start` are read and planned
    /// but not embedded (resuming a run). A part without records is not an error; a file without
    /// records is. Returns the number of records (those before `start` included).
    @discardableResult
    public func embedBatches(fasta path: String, options: ProteinEmbeddingOptions, range: Range<Int64>? = nil,
                             from start: ProteinRunPosition = .start, progress: ((ProteinProgress) -> Void)? = nil,
                             handle: (ProteinBatchResult) throws -> Void) throws -> Int {
        let layers = try resolveLayers(options.reprLayers)
        if options.include.contains(.contacts) && !esm.hasContactHead {
            throw MMAttnError("the checkpoint has no contact_head weights: contacts need a checkpoint with them", file: model.path)
        }
        let reader = try FastaReader(path: path, alphabet: alphabet, range: range)
        let batcher = try ProteinBatcher(reader: reader, alphabet: alphabet, options: options.batch)
        let partEnd = reader.endOffset ?? reader.fileSize
        var done = 0, residues = 0, windowIndex = 0
        var skipped = 0, skippedFraction = 0.0
        while let window = try batcher.nextWindow() {
            defer { windowIndex += 1 }
            let firstBatch = windowIndex < start.window ? window.batches.count : windowIndex == start.window ? start.batch : 0
            guard firstBatch < window.batches.count else {
                done += window.records.count
                skipped = done
                skippedFraction = reader.fractionRead ?? 0
                continue
            }
            // Residues still to do ≈ this window's rest + the unread bytes of the part.
            var pendingInWindow = window.records.indices.reduce(0) { $0 + window.residueCount($1) }
            for b in 0..<firstBatch {
                done += window.batches[b].count
                pendingInWindow -= window.batches[b].reduce(0) { $0 + window.residueCount($1) }
            }
            if firstBatch > 0 { skipped = done }
            for b in firstBatch..<window.batches.count {
                let batch = window.tokens(forBatch: b)
                let embeddings: [ProteinEmbedding]
                do {
                    embeddings = try run(batch, ids: batch.members.map { window.records[$0].id }, layers: layers, include: options.include)
                } catch let error as MMAttnError {
                    throw error.inFile(path)
                }
                done += batch.rows
                try handle(ProteinBatchResult(window: window, windowIndex: windowIndex, batch: b,
                                              embeddings: zip(batch.members, embeddings).map { (window.firstIndex + $0, $1) },
                                              recordsDone: done))
                let batchResidues = batch.residueCounts.reduce(0, +)
                residues += batchResidues
                pendingInWindow -= batchResidues
                let unread = partEnd.map { Double(max(0, $0 - reader.bytesRead)) }
                var p = ProteinProgress(records: done, residues: residues,
                                        fraction: unread.map { Double(residues) / max(1, Double(residues + pendingInWindow) + $0) })
                if skipped > 0 {
                    // The resumed part counts as done: scale this run's share into what was left.
                    p.fraction = p.fraction.map { skippedFraction + (1 - skippedFraction) * $0 }
                    p.skipped = skipped
                    p.skippedFraction = skippedFraction
                }
                progress?(p)
            }
        }
        if done == 0 && range == nil { throw MMAttnError("no FASTA records in the file", file: path) }
        for summary in [reader.stopCodonSummary, batcher.truncationSummary].compactMap({ $0 }) { Diagnostics.warn(summary) }
        return done
    }

    /// The records of a FASTA file, counted (and validated) without running the model; stops
    /// counting at `limit`.
    public func countRecords(fasta path: String, limit: Int = .max) throws -> Int {
        let reader = try FastaReader(path: path, alphabet: alphabet)
        var n = 0
        while n < limit, try reader.next() != nil { n += 1 }
        return n
    }

    /// Run one padded batch and cut each row's outputs out of it.
    func run(_ batch: ProteinTokenBatch, ids: [String], layers: [Int], include: Set<ProteinOutputKind>) throws -> [ProteinEmbedding] {
        let tokens: [[Int32]] = (0..<batch.rows).map { r in
            Array(batch.ids[(r * batch.width)..<(r * batch.width + batch.residueCounts[r] + 2)])
        }
        // Ask the Encoder first what it would refuse, so that the error names the record and the way out.
        if let reason = esm.encoder.refusal(batch: batch.rows, tokens: batch.width, keepsProbabilities: include.contains(.contacts)),
           let longest = batch.residueCounts.indices.max(by: { batch.residueCounts[$0] < batch.residueCounts[$1] }) {
            throw MMAttnError("record '\(ids[longest])' has \(batch.residueCounts[longest]) residues: \(reason); keep records shorter with --truncation-seq-length (ESM-2 was trained on up to 1022)")
        }
        let wantsReps = include.contains(.mean) || include.contains(.perToken) || include.contains(.bos)
        let out = try esm.forward(tokens: tokens, repr: wantsReps ? Set(layers) : [], contacts: include.contains(.contacts))
        for (_, rep) in out.representations { try rep.checkFinite("representations", file: model.path) }
        for c in out.contacts { try c.checkFinite("contact maps", file: model.path) }
        let D = esm.config.hiddenSize
        return try (0..<batch.rows).map { r in
            let L = batch.residueCounts[r]
            var e = ProteinEmbedding(id: ids[r], length: L)
            for l in layers where wantsReps {
                guard let rep = out.representations[l] else { throw MMAttnError("layer \(l) was not computed") }
                let T = rep.shape[1]
                let rows = rep.reshaped([rep.shape[0] * T, D])  // [B·T, D]; record r is rows r·T ..< r·T + L + 2
                let bos = r * T, residues = (bos + 1)..<(bos + 1 + L)
                if include.contains(.bos) { e.bos[l] = rows.rows(bos..<(bos + 1)).reshaped([D]) }
                if include.contains(.perToken) { e.perToken[l] = rows.rows(residues) }
                if include.contains(.mean) { e.mean[l] = Pooling.mean.apply(rows, meanRows: residues) }
            }
            if include.contains(.contacts) { e.contacts = out.contacts[r] }
            return e
        }
    }
}
