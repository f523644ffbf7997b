import Foundation

/// The files `embed-protein` writes (CONTRACT.md), streamed as batches finish and resumable (an
/// `EmbeddingStream`): `.npy` and `.json` hold the mean representation of the last requested
/// layer, [N, D], with the record ids beside them (`<name>.ids.jsonl`); `.safetensors` holds, per
/// record and included kind, `<id>/mean` [D], `<id>/per-token` [L, D], `<id>/bos` [D] and
/// `<id>/contacts` [L, L], with `/<layer>` appended when several layers are asked for, in the
/// order the batches finish.
public final class ProteinOutputWriter {
    public let stream: EmbeddingStream
    /// What is written per record.
    public let include: Set<ProteinOutputKind>
    /// Resolved layer indices (0...numLayers), in request order.
    public let layers: [Int]

    /// Throws, naming `path`, when its format cannot hold `include` (only `.safetensors` holds more
    /// than the means) or its extension is unknown. Call before any work.
    public static func check(path: String, include: Set<ProteinOutputKind>) throws {
        let format = try OutputFile.format(of: path)
        if format != .safetensors && include != [.mean] {
            throw MMAttnError("\(format.rawValue) output holds the mean only; use a .safetensors output for per-token, bos or contacts", file: path)
        }
    }

    /// `layers` as `ProteinEncoder.resolveLayers` gives them (at least one); `hiddenSize` is the
    /// width of a mean. With `resume`, continues the run the output's journal describes.
    public init(path: String, include: Set<ProteinOutputKind>, layers: [Int], hiddenSize: Int,
                run: RunDescription, resume: Bool) throws {
        try Self.check(path: path, include: include)
        guard let last = layers.last else { throw MMAttnError("no layers to write", file: path) }
        let format = try OutputFile.format(of: path)
        self.include = include
        self.layers = format == .safetensors ? layers : [last]
        stream = try EmbeddingStream(path: path, layout: format == .safetensors ? .tensors : .rows([hiddenSize]),
                                     run: run, resume: resume)
    }

    /// Where an interrupted run stopped (nil: from the start).
    public var resumePosition: ProteinRunPosition? {
        guard let p = stream.resumed?.position, p.count == 2 else { return nil }
        return ProteinRunPosition(window: p[0], batch: p[1])
    }

    /// The tensors one record contributes to a `.safetensors` output, by name.
    public func tensors(of e: ProteinEmbedding) -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for kind in ProteinOutputKind.allCases where include.contains(kind) {
            if kind == .contacts {
                if let c = e.contacts { out.append(("\(e.id)/contacts", c)) }
                continue
            }
            let byLayer = kind == .mean ? e.mean : kind == .bos ? e.bos : e.perToken
            for l in layers {
                guard let t = byLayer[l] else { continue }
                out.append((layers.count == 1 ? "\(e.id)/\(kind.rawValue)" : "\(e.id)/\(kind.rawValue)/\(l)", t))
            }
        }
        return out
    }

    /// Store one batch's records and commit: the means at their rows (the window's ids once it is
    /// complete), or each record's tensors after those before.
    public func add(_ result: ProteinBatchResult) throws {
        for (index, e) in result.embeddings {
            if stream.layout == .tensors {
                for (name, t) in tensors(of: e) { try stream.put(t, name: name) }
                continue
            }
            guard let last = layers.last, let m = e.mean[last] else {
                throw MMAttnError("record '\(e.id)' has no mean representation of layer \(layers.last ?? -1)", file: stream.path)
            }
            try stream.put(row: m, at: index)
        }
        let next = result.next
        if next.window > result.windowIndex && stream.layout != .tensors { try stream.appendIds(result.window.records.map(\.id)) }
        try stream.commit(records: result.recordsDone, position: [next.window, next.batch])
    }

    /// Complete the file (it appears only then) and describe what it holds.
    @discardableResult
    public func finish(records: Int) throws -> String {
        try stream.finish(records: records, assembly: .named)
    }
}
