/// The library's version, reported by `mmattn --version`.
public enum MMAttnVersion {
    public static let string = "0.1.0"
}
