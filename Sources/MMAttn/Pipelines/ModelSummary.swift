import Foundation

/// What `mmattn inspect` reports about a model folder, without running it.
public struct ModelSummary: Sendable {
    public let family: String
    /// The first `architectures` entry of config.json (the checkpoint class).
    public let architecture: String
    /// Key hyper-parameters, in a stable order, as config.json gives them (numbers, strings, booleans).
    public let config: [(key: String, value: JSON)]
    public let parameters: Int
    public let tensors: Int
    /// Tensor count per stored dtype, sorted by name.
    public let dtypes: [(key: String, value: Int)]
    /// Bytes of tensor data on disk.
    public let bytes: Int
    public let labels: Int

    public init(folder: ModelFolder, checkpoint: Checkpoint) throws {
        let c = folder.config
        let family = try folder.family()
        self.family = family.rawValue
        architecture = c.object["architectures"]?.array?.first?.string ?? "unknown"
        let keys: [String]
        switch family {
        case .vit, .deit:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size", "patch_size", "hidden_act"]
        case .timesformer:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size", "patch_size",
                    "num_frames", "attention_type"]
        case .videomae:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size", "patch_size",
                    "num_frames", "tubelet_size", "use_mean_pooling"]
        case .whisper:
            keys = ["d_model", "encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins", "max_source_positions"]
        case .ast:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_mel_bins", "max_length", "frequency_stride", "time_stride"]
        case .esm:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "position_embedding_type", "token_dropout"]
        case .bert, .roberta:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings", "hidden_act"]
        case .distilbert:
            keys = ["dim", "n_layers", "n_heads", "hidden_dim", "vocab_size", "max_position_embeddings", "activation"]
        case .gpt2:
            keys = ["n_embd", "n_layer", "n_head", "n_inner", "vocab_size", "n_positions", "activation_function"]
        case .modernbert:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings",
                    "global_attn_every_n_layers", "local_attention", "hidden_activation"]
        case .qwen3:
            keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size",
                    "vocab_size", "max_position_embeddings", "rope_theta", "hidden_act"]
        }
        config = keys.compactMap { k in
            guard let v = c.object[k] else { return nil }
            switch v {
            case .number, .string, .bool: return (k, v)
            default: return nil
            }
        }
        parameters = checkpoint.parameterCount
        tensors = checkpoint.names.count
        dtypes = checkpoint.dtypeCounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        bytes = checkpoint.totalBytes
        labels = c.object["id2label"]?.object?.keys.count ?? 0
    }
}
