import CPNG
import Foundation

/// PNG encoding through libpng's simplified API (8-bit RGB or gray, no interlace).
public enum PNGEncoder {
    /// The PNG bytes of an RGB image.
    public static func encode(_ image: RGBImage) throws -> Data {
        try encode(image.pixels, width: image.width, height: image.height, format: PNG_FORMAT_RGB)
    }

    /// The PNG bytes of an 8-bit gray image, `pixels` row-major `[height, width]`.
    public static func encode(gray pixels: [UInt8], width: Int, height: Int) throws -> Data {
        precondition(pixels.count == width * height, "PNGEncoder: \(pixels.count) bytes for \(width)x\(height)")
        return try encode(pixels, width: width, height: height, format: UInt32(PNG_FORMAT_GRAY))
    }

    /// Encode an RGB image and write it atomically (a temporary name, then the rename).
    public static func write(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(attributing(to: path) { try encode(image) }, to: path)
    }

    static func encode(_ pixels: [UInt8], width: Int, height: Int, format: UInt32) throws -> Data {
        guard width > 0, height > 0, width <= 1 << 20, height <= 1 << 20 else {
            throw MMAttnError("cannot encode a \(width)x\(height) image as PNG")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = format
        defer { png_image_free(&image) }
        var size: png_alloc_size_t = 0
        // The first call measures, the second writes.
        let measured = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard measured != 0, size > 0 else { throw MMAttnError("libpng could not encode a \(width)x\(height) image") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let ok = pixels.withUnsafeBytes { src in
            bytes.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, src.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw MMAttnError("libpng could not encode a \(width)x\(height) image") }
        return Data(bytes.prefix(Int(size)))
    }
}
