import Foundation

/// What the video families share: a clip of `numFrames` frames of one size in, token states out,
/// and the vector their classifier reads.
public protocol VideoModel: Sendable {
    /// TimeSformer or VideoMAE.
    var family: ModelFamily { get }
    /// Frames the model takes (config.json's `num_frames`).
    var numFrames: Int { get }
    /// The frame size the model takes (config.json's `image_size`).
    var frameSize: (height: Int, width: Int) { get }
    /// Channels per frame (config.json's `num_channels`, 3).
    var numChannels: Int { get }
    /// Width of the token states, D.
    var hiddenSize: Int { get }
    /// Layers, attention heads per layer, and the side of a square patch in pixels.
    var numLayers: Int { get }
    var numHeads: Int { get }
    var patchSize: Int { get }
    /// Names of the classifier's outputs (empty without a classification head).
    var labels: [String] { get }
    /// `embed-video`'s default pooling (CONTRACT.md): TimeSformer `cls`, VideoMAE `mean`.
    var defaultPooling: Pooling { get }

    /// The forward pass on one clip, `pixels` [F, C, H, W] as transformers' `pixel_values` (without
    /// the batch axis): the last hidden state as the family's base model returns it, [T, D], and
    /// with `options.hiddenStates` the embeddings and every layer's output (`keptStates` is not
    /// used). An attention sink gets each layer's probabilities as transformers' `attentions`
    /// holds them (TimeSformer's divided layers: the spatial ones, [F, H, 1 + N, 1 + N]).
    func forward(_ pixels: Tensor, options: EncoderOptions) throws -> (lastHiddenState: Tensor, hiddenStates: [Tensor])
    /// `pooling` applied to a last hidden state: `cls` row 0, `mean` the model's pooled output
    /// (VideoMAE: the mean, then `fc_norm` where it has one), `none` the states themselves.
    func pool(_ lastHiddenState: Tensor, _ pooling: Pooling) -> Tensor
    /// Classifier logits from a last hidden state: [L]. Throws without a classification head.
    func logits(lastHiddenState: Tensor) throws -> Tensor
}

extension VideoModel {
    public var hasClassifier: Bool { !labels.isEmpty }

    /// Check that `pixels` is a clip this model takes, naming what differs.
    func checkClip(_ pixels: Tensor) throws {
        let expected = [numFrames, numChannels, frameSize.height, frameSize.width]
        guard pixels.shape == expected else {
            throw MMAttnError("a clip of \(pixels.shape) pixel values does not fit the \(family.displayName) model, which takes "
                              + "\(expected) (frames, channels, height, width): the preprocessing must give \(frameSize.height)×\(frameSize.width) frames")
        }
    }
}

/// Load a TimeSformer or VideoMAE model from a folder's config and weights.
public func loadVideoModel(_ folder: ModelFolder, weights: Checkpoint) throws -> any VideoModel {
    switch try folder.family() {
    case .timesformer: return try TimeSformer(config: folder.config, weights: weights)
    case .videomae: return try VideoMAE(config: folder.config, weights: weights)
    case let other:
        throw MMAttnError("this is \(other.modelPhrase); video commands need a TimeSformer or VideoMAE checkpoint", file: folder.path)
    }
}

/// A classification head on a pooled vector [D]: [L].
func classifierLogits(_ classifier: Linear?, _ pooled: Tensor) throws -> Tensor {
    guard let classifier else {
        throw MMAttnError("this checkpoint has no classification head (classifier.weight); use embed-video instead")
    }
    return classifier(pooled.reshaped([1, pooled.count])).reshaped([classifier.outFeatures])
}
