/// An 8-bit RGB image, the form every image front-end step works on.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Interleaved samples, row-major: shape [height, width, 3].
    public var pixels: [UInt8]

    /// An image from interleaved RGB bytes; `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image whose bytes `fill` writes: it receives a buffer of `width * height * 3` bytes
    /// and must initialise all of them.
    init(width: Int, height: Int, fill: (UnsafeMutablePointer<UInt8>) throws -> Void) rethrows {
        let count = width * height * 3
        self.width = width
        self.height = height
        pixels = try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { try fill(buffer.baseAddress!) }
            initialized = count
        }
    }
}
