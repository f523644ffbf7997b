import Foundation

/// The input sequence of the patch models (ViT, DeiT, AST), as transformers' `*Embeddings` modules
/// build it: learned prefix tokens ([CLS], then DeiT's and AST's distillation token), one
/// convolution output per patch in row-major grid order, and learned positions added to all of them.
struct PatchEmbeddings: Sendable {
    let projection: Conv2d          // embeddings.patch_embeddings.projection: [D, C, P, P]
    let prefix: [Tensor]            // embeddings.cls_token (+ embeddings.distillation_token): [1, 1, D] each
    let positionEmbeddings: Tensor  // embeddings.position_embeddings: [1, prefix + N, D]

    /// Load from `w` (the base model's scope). `grid` is the number of patches the checkpoint was trained on.
    init(_ w: CheckpointScope, width D: Int, channels C: Int, patchSize P: Int, stride: (h: Int, w: Int),
         grid N: Int, distillation: Bool) throws {
        projection = Conv2d(weight: try w.tensor("embeddings.patch_embeddings.projection.weight", shape: [D, C, P, P]),
                            bias: try w.tensor("embeddings.patch_embeddings.projection.bias", shape: [D]),
                            stride: stride)
        var prefix = [try w.tensor("embeddings.cls_token", shape: [1, 1, D])]
        if distillation { prefix.append(try w.tensor("embeddings.distillation_token", shape: [1, 1, D])) }
        self.prefix = prefix
        positionEmbeddings = try w.tensor("embeddings.position_embeddings", shape: [1, prefix.count + N, D])
    }

    var width: Int { projection.weight.shape[0] }
    /// Tokens before the patches.
    var prefixCount: Int { prefix.count }
    /// Patches of the trained position table.
    var trainedPatches: Int { positionEmbeddings.shape[1] - prefix.count }

    /// Tokens a [C, height, width] input gives.
    func tokenCount(height: Int, width: Int) -> Int {
        let grid = projection.outputGrid(height: height, width: width)
        return prefix.count + grid.h * grid.w
    }

    /// Refuse, before any work, an input the encoder would refuse (`Encoder.refusal`); `what`
    /// names the input and the way out in the message.
    func checkFits(_ encoder: Encoder, height: Int, width: Int, what: String) throws {
        let T = tokenCount(height: height, width: width)
        if let reason = encoder.refusal(batch: 1, tokens: T, keepsProbabilities: false) {
            throw MMAttnError("\(what) gives \(T) tokens: \(reason)")
        }
    }

    /// The sequence for one input `pixels` ([C, H, W]): [1, prefix + N, D], with `positions`
    /// ([prefix + N, D]) added; `positions` nil means the trained table, which must fit the grid.
    func callAsFunction(_ pixels: Tensor, positions: Tensor? = nil) -> Tensor {
        let D = width
        let patches = projection.tokens(pixels)  // [N, D]
        let N = patches.shape[0], T = prefix.count + N
        let table = positions ?? positionEmbeddings.reshaped([T, D])
        precondition(table.shape == [T, D], "position table \(table.shape) for \(T) tokens")
        let out = Tensor(zeros: [1, T, D])
        for (i, token) in prefix.enumerated() { (out.data + i * D).update(from: token.pointer, count: D) }
        (out.data + prefix.count * D).update(from: patches.pointer, count: N * D)
        Kernels.add(table.pointer, into: out.data, count: T * D)
        return out
    }
}
