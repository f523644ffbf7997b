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
    public let records: Int
    public let residues: Int
    /// Estimated fraction of the file's residues done (nil when the input is a pipe).
    public let fraction: Double?
}

/// FASTA → ESM-2 representations and contact maps, batched as esm-extract does; outputs come back
/// in file order and equal those of each record run alone.
public final class ProteinEncoder: Sendable {
    public let model: ModelFolder
    public let esm: ESM2
    public let alphabet: ESMAlphabet

    public init(model spec: String) throws {
        let load = try ModelLoad(spec, accepting: [.esm], for: "protein commands")
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
    public func embed(fasta path: String, options: ProteinEmbeddingOptions,
                      progress: ((ProteinProgress) -> Void)? = nil, handle: (ProteinEmbedding) throws -> Void) throws {
        let layers = try resolveLayers(options.reprLayers)
        if options.include.contains(.contacts) && !esm.hasContactHead {
            throw MMAttnError("the checkpoint has no contact_head weights: contacts need a checkpoint with them", file: model.path)
        }
        let reader = try FastaReader(path: path, alphabet: alphabet)
        let batcher = try ProteinBatcher(reader: reader, alphabet: alphabet, options: options.batch)
        var done = 0, residues = 0
        var sawRecord = false
        while let window = try batcher.nextWindow() {
            sawRecord = true
            var results = [ProteinEmbedding?](repeating: nil, count: window.records.count)
            // Residues still to do ≈ this window's rest + the unread bytes of the file.
            var pendingInWindow = window.records.indices.reduce(0) { $0 + window.residueCount($1) }
            for b in window.batches.indices {
                let batch = window.tokens(forBatch: b)
                let embeddings: [ProteinEmbedding]
                do {
                    embeddings = try run(batch, ids: batch.members.map { window.records[$0].id }, layers: layers, include: options.include)
                } catch let error as MMAttnError {
                    throw error.inFile(path)
                }
                for (row, member) in batch.members.enumerated() { results[member] = embeddings[row] }
                done += batch.rows
                let batchResidues = batch.residueCounts.reduce(0, +)
                residues += batchResidues
                pendingInWindow -= batchResidues
                let unread = reader.fileSize.map { Double(max(0, $0 - reader.bytesRead)) }
                progress?(ProteinProgress(records: done, residues: residues,
                                          fraction: unread.map { Double(residues) / max(1, Double(residues + pendingInWindow) + $0) }))
            }
            for r in results { if let r { try handle(r) } }
        }
        if !sawRecord { throw MMAttnError("no FASTA records in the file", file: path) }
        for summary in [reader.stopCodonSummary, batcher.truncationSummary].compactMap({ $0 }) { Diagnostics.warn(summary) }
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
