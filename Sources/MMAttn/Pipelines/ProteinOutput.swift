import Foundation

/// The files `embed-protein` writes (CONTRACT.md), for any program that wants the same layout:
/// `.npy` and `.json` hold the mean representation of the last requested layer, [N, D];
/// `.safetensors` holds, per record and included kind, `<id>/mean` [D], `<id>/per-token` [L, D],
/// `<id>/bos` [D] and `<id>/contacts` [L, L], with `/<layer>` appended when several layers are asked for.
public final class ProteinOutputWriter {
    /// The output file.
    public let path: String
    public let format: OutputFile.Format
    /// What is written per record.
    public let include: Set<ProteinOutputKind>
    /// Resolved layer indices (0...numLayers), in request order.
    public let layers: [Int]
    /// Records added so far.
    public private(set) var records = 0

    private var means: [Tensor] = []           // [D] each: .npy / .json
    private var named: [(String, Tensor)] = []  // .safetensors

    /// Throws, naming `path`, when its format cannot hold `include` (only `.safetensors` holds more
    /// than the means) or its extension is unknown. Call before any work.
    public static func check(path: String, include: Set<ProteinOutputKind>) throws {
        let format = try OutputFile.format(of: path)
        if format != .safetensors && include != [.mean] {
            throw MMAttnError("\(format.rawValue) output holds the mean only; use a .safetensors output for per-token, bos or contacts", file: path)
        }
    }

    /// `layers` as `ProteinEncoder.resolveLayers` gives them (at least one).
    public init(path: String, include: Set<ProteinOutputKind>, layers: [Int]) throws {
        try Self.check(path: path, include: include)
        guard let last = layers.last else { throw MMAttnError("no layers to write", file: path) }
        self.path = path
        self.format = try OutputFile.format(of: path)
        self.include = include
        self.layers = format == .safetensors ? layers : [last]
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

    /// Keep one record's outputs (records arrive in file order).
    public func add(_ e: ProteinEmbedding) throws {
        records += 1
        switch format {
        case .safetensors: named += tensors(of: e)
        default:
            guard let last = layers.last, let m = e.mean[last] else {
                throw MMAttnError("record '\(e.id)' has no mean representation of layer \(layers.last ?? -1)", file: path)
            }
            means.append(m)
        }
    }

    /// Write the file (it appears only when complete) and describe what it holds.
    @discardableResult
    public func finish() throws -> String {
        guard records > 0 else { throw MMAttnError("no records to write", file: path) }
        switch format {
        case .safetensors:
            try OutputFile.write(named[0].1, primaryName: named[0].0, named: named, to: path)
            return "\(named.count) tensors for \(records) records"
        default:
            let all = Tensor.stack(means)
            try OutputFile.write(all, primaryName: "mean", to: path)
            return "float32 \(all.shape)"
        }
    }
}
