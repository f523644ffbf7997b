import Foundation

/// How an image or audio embedding is reduced from the last hidden state.
public enum Pooling: String, Sendable, CaseIterable {
    /// The first token ([CLS]).
    case cls
    /// The mean over tokens (for AST: the model's pooled output).
    case mean
    /// The whole last hidden state, [T, D].
    case none
}
