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
        try AtomicFile.write(attributing(to: path) { try PNGEncoder.encode(gray: pixels, width: side, height: side) }, to: path)
    }
}
