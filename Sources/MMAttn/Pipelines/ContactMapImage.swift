import CPNG
import Foundation

/// Draws an [L, L] contact-probability map as a grayscale PNG (white 0, black 1), each residue pair
/// a square of pixels so that short proteins are still visible.
public enum ContactMapImage {
    public static func write(_ contacts: Tensor, to path: String, minimumSide: Int = 512) throws {
        let L = contacts.shape[0]
        guard L > 0 else { throw MMAttnError("empty contact map", file: path) }
        let scale = max(1, minimumSide / L)
        let side = L * scale
        var pixels = [UInt8](repeating: 255, count: side * side)  // [side, side]
        for i in 0..<L {
            for j in 0..<L {
                let raw = contacts.data[i * L + j]
                let p = raw.isNaN ? 0 : min(max(raw, 0), 1)
                let v = UInt8((1 - p) * 255 + 0.5)
                for y in 0..<scale {
                    let row = (i * scale + y) * side + j * scale
                    for x in 0..<scale { pixels[row + x] = v }
                }
            }
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(side)
        image.height = UInt32(side)
        image.format = UInt32(PNG_FORMAT_GRAY)
        var size: png_alloc_size_t = 0
        // First call measures, second writes.
        let measured = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard measured != 0, size > 0 else { throw MMAttnError("could not encode the contact map as PNG", file: path) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let ok = pixels.withUnsafeBytes { src in
            bytes.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, src.baseAddress, 0, nil) }
        }
        png_image_free(&image)
        guard ok != 0 else { throw MMAttnError("could not encode the contact map as PNG", file: path) }
        try AtomicFile.write(Data(bytes.prefix(Int(size))), to: path)
    }
}
