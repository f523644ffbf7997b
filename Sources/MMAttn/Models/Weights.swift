import Foundation

/// The building blocks every model family loads, by their checkpoint names. Each lookup checks the
/// shape, so a model is fully validated when it loads.
extension CheckpointScope {
    /// `name.weight` [out, in] and, when `bias`, `name.bias` [out], computing in `dtype` (default:
    /// the checkpoint's).
    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true, dtype: DType? = nil) throws -> Linear {
        Linear(weight: try tensor("\(name).weight", shape: [out, inFeatures]),
               bias: bias ? try tensor("\(name).bias", shape: [out]) : nil, dtype: dtype ?? checkpoint.dtype)
    }

    /// `name.weight` and `name.bias`, both [width]; older checkpoints call them `gamma` and `beta`
    /// (transformers renames those on load too).
    func layerNorm(_ name: String, width: Int, eps: Float) throws -> LayerNorm {
        let legacy = !contains("\(name).weight") && contains("\(name).gamma")
        return LayerNorm(weight: try tensor("\(name).\(legacy ? "gamma" : "weight")", shape: [width]),
                         bias: try tensor("\(name).\(legacy ? "beta" : "bias")", shape: [width]), eps: eps)
    }

    /// The first dimension of a tensor (a head's label count), 0 when absent.
    func rows(of name: String) -> Int { info(name)?.shape.first ?? 0 }
}
