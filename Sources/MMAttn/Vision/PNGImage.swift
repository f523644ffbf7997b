import CPNG
import Foundation

/// PNG decoding through libpng, to 8-bit RGB exactly as Pillow's `Image.open(path).convert("RGB")`:
/// no gamma or colour-profile correction, alpha dropped (not composited), tRNS ignored, 16-bit
/// colour samples reduced to their high byte, 16-bit gray clamped to 255 (Pillow's `I;16` to RGB),
/// 1/2/4-bit gray scaled by bit replication, palette indices past the palette black.
public enum PNGImage {
    /// Images with more pixels than this are refused unless the caller passes another budget.
    public static let defaultMaxPixels = 100_000_000
    /// Files larger than this are refused before they are read.
    public static let maxFileBytes = 1 << 30

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Read and decode the PNG file at `path`.
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(data: readFile(path), file: path, maxPixels: maxPixels)
    }

    /// The size the PNG file's header declares, checked as `decode` checks it, without decoding.
    public static func size(path: String, maxPixels: Int = defaultMaxPixels) throws -> (height: Int, width: Int) {
        let (width, height) = try checkHeader(readFile(path, upTo: headerBytes), file: path, maxPixels: maxPixels)
        return (height, width)
    }

    /// Whether the file starts with PNG's signature (false when it cannot be read).
    public static func hasSignature(path: String) -> Bool {
        guard let head = try? readFile(path, upTo: signature.count) else { return false }
        return head.withUnsafeBytes { isPNG($0) }
    }

    /// The bytes `checkHeader` reads: the signature, the IHDR chunk's length and type, width, height.
    static let headerBytes = 24

    /// Decode PNG bytes; `file` names them in error messages.
    public static func decode(data: Data, file: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let (width, height) = try checkHeader(data, file: file, maxPixels: maxPixels)
        var result = mmattn_png_result()
        let status = data.withUnsafeBytes { raw in
            mmattn_png_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, UInt64(maxPixels), &result)
        }
        defer { mmattn_png_free(&result) }
        guard status == 0, let samples = result.pixels else { throw failure(result, file: file, maxPixels: maxPixels) }
        guard Int(result.width) == width, Int(result.height) == height else {
            throw MMAttnError("the PNG header changed while it was read; the file is damaged", file: file)
        }
        return toRGB(samples, result)
    }

    // MARK: - Reading the file

    /// The file's bytes (its first `limit` bytes at most), refusing what is not a regular file,
    /// too large, or not PNG (after reading only its first 8 bytes).
    static func readFile(_ path: String, upTo limit: Int = .max) throws -> Data {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // O_NONBLOCK: a FIFO must not block the open
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw MMAttnError("cannot open the image (\(reason)); check the path", file: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw MMAttnError("cannot read the image (\(String(cString: strerror(errno))))", file: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw MMAttnError("not a regular file; give the path of a PNG image", file: path)
        }
        guard Int(info.st_size) <= maxFileBytes else {
            throw MMAttnError("the file has \(info.st_size) bytes, more than the \(maxFileBytes >> 20) MiB accepted for a PNG image; "
                              + "downscale or recompress it", file: path)
        }
        let size = min(Int(info.st_size), limit)
        var data = Data(count: size)
        let got = try data.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            var total = 0
            while total < size {
                // The signature first, so that a large file of another kind is refused at once.
                let want = total < signature.count ? min(signature.count, size) - total : size - total
                let n = read(fd, base + total, want)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MMAttnError("cannot read the image (\(String(cString: strerror(errno))))", file: path)
                }
                if n == 0 { break }
                total += n
                if total == min(signature.count, size) && !isPNG(UnsafeRawBufferPointer(start: base, count: total)) {
                    throw notPNG(path)
                }
            }
            return total
        }
        if got < size { data.count = got }
        return data
    }

    static func isPNG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= signature.count && zip(bytes, signature).allSatisfy { $0 == $1 }
    }

    static func notPNG(_ file: String) -> MMAttnError {
        MMAttnError("not a PNG file (it does not start with the PNG signature); convert the image to PNG first", file: file)
    }

    // MARK: - Checks before libpng runs

    /// Check the signature and the IHDR chunk's size fields, and the pixel budget, before any
    /// pixel memory exists. Returns the declared width and height.
    static func checkHeader(_ data: Data, file: String, maxPixels: Int) throws -> (Int, Int) {
        try data.withUnsafeBytes { raw -> (Int, Int) in
            if raw.count == 0 { throw MMAttnError("the file is empty (0 bytes); it is not a PNG image", file: file) }
            guard isPNG(UnsafeRawBufferPointer(rebasing: raw.prefix(signature.count))) else { throw notPNG(file) }
            // Signature (8), IHDR length (4) and type (4), width (4), height (4).
            guard raw.count >= headerBytes else {
                throw MMAttnError("truncated PNG: the file ends before its header is complete; the file is incomplete, "
                                  + "download or export it again", file: file)
            }
            func be32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(raw[at + $1]) } }
            let type = String(decoding: raw[12..<16], as: UTF8.self)
            guard type == "IHDR" else {
                throw MMAttnError("corrupt PNG: the first chunk is \"\(type.filter { $0.isASCII && !$0.isNewline })\", "
                                  + "not the IHDR header; the file is damaged", file: file)
            }
            guard be32(8) == 13 else {
                throw MMAttnError("corrupt PNG: the IHDR header has \(be32(8)) bytes instead of 13; the file is damaged", file: file)
            }
            let width = be32(16), height = be32(20)
            guard width > 0, height > 0 else {
                throw MMAttnError("the PNG header declares an image of \(width)×\(height) pixels; a side of 0 is not allowed, "
                                  + "the file is damaged", file: file)
            }
            guard width <= Int(Int32.max), height <= Int(Int32.max) else {
                throw MMAttnError("the PNG header declares an image of \(width)×\(height) pixels, beyond the PNG limit of "
                                  + "2^31-1 per side; the file is damaged", file: file)
            }
            guard width * height <= maxPixels else { throw overBudget(width, height, maxPixels, file) }
            return (width, height)
        }
    }

    static func overBudget(_ width: Int, _ height: Int, _ maxPixels: Int, _ file: String) -> MMAttnError {
        let budget = maxPixels % 1_000_000 == 0 ? "\(maxPixels / 1_000_000) MP" : "\(maxPixels)-pixel"
        return MMAttnError("image of \(width)×\(height) pixels exceeds the \(budget) budget; downscale it first "
                           + "(or raise the pixel budget)", file: file)
    }

    static func failure(_ result: mmattn_png_result, file: String, maxPixels: Int) -> MMAttnError {
        switch result.failure {
        case 1:
            return MMAttnError("truncated PNG: the file ends before its image data is complete; the file is incomplete, "
                               + "download or export it again", file: file)
        case 2:
            return overBudget(Int(result.width), Int(result.height), maxPixels, file)
        case 4:
            return MMAttnError("not enough memory to decode the PNG image of \(result.width)×\(result.height) pixels", file: file)
        default:
            let message = withUnsafeBytes(of: result.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return MMAttnError("corrupt PNG (libpng: \(message)); the file is damaged, export or download it again", file: file)
        }
    }

    // MARK: - Conversion to RGB

    /// Convert libpng's rows to interleaved RGB the way Pillow's decoder and `convert("RGB")` do.
    static func toRGB(_ samples: UnsafeMutablePointer<UInt8>, _ r: mmattn_png_result) -> RGBImage {
        let width = Int(r.width), height = Int(r.height), rowbytes = r.rowbytes
        let depth = Int(r.out_bit_depth)
        return RGBImage(width: width, height: height) { out in
            if r.out_channels == 3 {
                // 8-bit RGB (16-bit chopped, alpha stripped): rows are already what we want.
                for y in 0..<height { (out + y * width * 3).update(from: samples + y * rowbytes, count: width * 3) }
                return
            }
            if depth == 16 {
                // 16-bit gray: Pillow's I;16 -> RGB clamps the value to 255.
                for y in 0..<height {
                    let row = samples + y * rowbytes
                    let o = out + y * width * 3
                    for x in 0..<width {
                        let v = Int(row[2 * x]) << 8 | Int(row[2 * x + 1])
                        let s = UInt8(min(v, 255))
                        o[3 * x] = s; o[3 * x + 1] = s; o[3 * x + 2] = s
                    }
                }
                return
            }
            // One sample of 1, 2, 4 or 8 bits per pixel: a palette index or a gray level, through a table.
            var table = [UInt8](repeating: 0, count: 256 * 3)
            if r.color_type == PNG_COLOR_TYPE_PALETTE {
                withUnsafeBytes(of: r.palette) { p in
                    for i in 0..<Int(r.num_palette) * 3 { table[i] = p[i] }
                }
            } else {
                let scale = 255 / ((1 << depth) - 1)
                for v in 0..<(1 << depth) {
                    let s = UInt8(v * scale)
                    table[3 * v] = s; table[3 * v + 1] = s; table[3 * v + 2] = s
                }
            }
            table.withUnsafeBufferPointer { t in
                let mask = (1 << depth) - 1
                let perByte = 8 / depth
                for y in 0..<height {
                    let row = samples + y * rowbytes
                    var o = out + y * width * 3
                    for x in 0..<width {
                        let byte = Int(row[x / perByte])
                        let v = depth == 8 ? byte : (byte >> (8 - depth * (x % perByte + 1))) & mask
                        o[0] = t[3 * v]; o[1] = t[3 * v + 1]; o[2] = t[3 * v + 2]
                        o += 3
                    }
                }
            }
        }
    }
}
