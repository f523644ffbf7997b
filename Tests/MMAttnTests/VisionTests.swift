import Foundation
import Testing
@testable import MMAttn

/// Parity of the image front-end with Pillow and transformers' PIL-backend image processors.
/// References: Fixtures/reference/vision, written by Fixtures/gen_vision.py (versions.json says
/// which versions).
@Suite struct VisionTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let reference = fixtures.appendingPathComponent("reference/vision")
    static let images = fixtures.appendingPathComponent("images")
    static let badInputs = (Paths.badInputs ?? "/nonexistent") + "/png"

    /// The value of `key` in the reference file `name`.
    static func json(_ name: String, _ key: String) throws -> JSON? {
        try JSONFields.load(reference.appendingPathComponent(name).path).object[key]
    }

    /// zlib's CRC-32, as the generator records it.
    static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    static func crc32(_ tensor: Tensor) -> UInt32 {
        crc32(UnsafeRawBufferPointer(start: tensor.data, count: tensor.count * 4))
    }

    /// A PNG chunk with its CRC.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        let body = Array(type.utf8) + data
        let c = crc32(body)
        return [UInt8(n >> 24), UInt8(n >> 16 & 255), UInt8(n >> 8 & 255), UInt8(n & 255)] + body
            + [UInt8(c >> 24), UInt8(c >> 16 & 255), UInt8(c >> 8 & 255), UInt8(c & 255)]
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// `png` with its IHDR width and height replaced (CRC recomputed).
    static func withDimensions(_ png: Data, width: Int, height: Int) -> Data {
        var bytes = [UInt8](png)
        let ihdr = be32(width) + be32(height) + Array(bytes[24..<29])
        bytes.replaceSubrange(8..<33, with: chunk("IHDR", ihdr))
        return Data(bytes)
    }

    static func loadImage(_ name: String) throws -> RGBImage {
        try PNGImage.decode(path: images.appendingPathComponent(name).path)
    }

    /// Compare bytes with a reference .npy of uint8; returns (values differing, largest difference).
    static func compare(_ ours: [UInt8], _ npy: Tensor) -> (Int, Int) {
        var differing = 0, largest = 0
        for (i, v) in ours.enumerated() {
            let d = abs(Int(v) - Int(npy.data[i]))
            if d > 0 { differing += 1; largest = max(largest, d) }
        }
        return (differing, largest)
    }

    // MARK: - Decoding

    @Test func decodesEveryKindLikePillow() throws {
        let entries = try #require(Self.json("decode.json", "images")?.object)
        #expect(entries.keys.count >= 30)
        for name in entries.keys {
            let entry = try #require(entries[name])
            let e = try JSONFields(entry, file: name)
            let image = try PNGImage.decode(path: Self.images.appendingPathComponent(name).path)
            let width = try e.int("width"), height = try e.int("height"), crc = try e.int("crc32")
            #expect(image.width == width && image.height == height, "\(name)")
            #expect(Int(Self.crc32(image.pixels)) == crc, "\(name): RGB bytes differ from Pillow's")
            if let npy = try e.string("npy") {
                let ref = try NPY.read(Self.reference.appendingPathComponent(npy).path)
                #expect(ref.shape == [image.height, image.width, 3], "\(name)")
                let (differing, _) = Self.compare(image.pixels, ref)
                #expect(differing == 0, "\(name): \(differing) values differ from Pillow's")
            }
        }
    }

    @Test func decodesFromDataAsFromFile() throws {
        let path = Self.images.appendingPathComponent("kinds/rgba16_interlaced.png").path
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let fromData = try PNGImage.decode(data: data, file: "x.png"), fromFile = try PNGImage.decode(path: path)
        #expect(fromData == fromFile)
    }

    /// The shared bad-inputs corpus, read in place: every reject-labelled file throws MMAttnError,
    /// valid files decode as Pillow does, `either_` files may go either way but never crash.
    @Test(.needsBadInputs) func badInputsCorpus() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.badInputs)
        #expect(names.contains { $0.hasSuffix(".png") })
        let pillow = try #require(Self.json("decode.json", "badinputs")?.object)
        var rejected = 0
        for name in names.sorted() where name.hasSuffix(".png") {
            let path = Self.badInputs + "/" + name
            if name.hasPrefix("valid_") || name.hasPrefix("either_") {
                do {
                    let image = try PNGImage.decode(path: path)
                    if let e = pillow[name]?.object, let crc = e["crc32"]?.int {
                        #expect(Int(Self.crc32(image.pixels)) == crc, "\(name): differs from Pillow")
                    }
                } catch let error as MMAttnError {
                    #expect(name.hasPrefix("either_"), "\(name) was rejected: \(error)")
                    #expect(error.file == path)
                }
            } else {
                do {
                    _ = try PNGImage.decode(path: path)
                    Issue.record("\(name) was accepted")
                } catch let error as MMAttnError {
                    #expect(error.file == path && !error.message.isEmpty)
                    rejected += 1
                }
            }
        }
        #expect(rejected >= 20)
    }

    @Test func rejectsWhatIsNotAPNG() throws {
        let cases: [(String, Data, String)] = [
            ("text.png", Data("just some text, not an image\n".utf8), "not a PNG file"),
            ("jpeg.png", Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0, count: 40)), "not a PNG file"),
            ("empty.png", Data(), "empty"),
            ("signature_only.png", Data(PNGImage.signature), "truncated"),
            ("short.png", Data(PNGImage.signature.prefix(5)), "not a PNG file"),
        ]
        for (file, data, phrase) in cases {
            do {
                _ = try PNGImage.decode(data: data, file: file)
                Issue.record("\(file) was accepted")
            } catch let error as MMAttnError {
                #expect(error.file == file && error.message.contains(phrase), "\(error)")
            }
        }
    }

    @Test func rejectsTruncatedFiles() throws {
        let png = try Data(contentsOf: Self.images.appendingPathComponent("kinds/rgb8_interlaced.png"))
        for cut in [10, 30, 33, 45, png.count / 2, png.count - 13, png.count - 1] {
            do {
                _ = try PNGImage.decode(data: png.prefix(cut), file: "cut.png")
                Issue.record("a PNG cut to \(cut) of \(png.count) bytes was accepted")
            } catch let error as MMAttnError {
                #expect(error.file == "cut.png")
                #expect(error.message.contains("truncated"), "cut at \(cut): \(error)")
            }
        }
    }

    @Test func rejectsBadDimensionsBeforeAllocating() throws {
        let png = try Data(contentsOf: Self.images.appendingPathComponent("kinds/gray8.png"))
        let cases: [(Int, Int, String)] = [
            (100_000, 100_000, "image of 100000×100000 pixels exceeds the 100 MP budget"),
            (0, 11, "a side of 0"), (13, 0, "a side of 0"),
            (0xFFE7_0001, 1, "2^31-1"), (1, 1 << 31, "2^31-1"),
        ]
        for (w, h, phrase) in cases {
            do {
                _ = try PNGImage.decode(data: Self.withDimensions(png, width: w, height: h), file: "dims.png")
                Issue.record("\(w)×\(h) was accepted")
            } catch let error as MMAttnError {
                #expect(error.message.contains(phrase), "\(error)")
            }
        }
        // The budget is configurable; the real cat is 451×300.
        let cat = Self.images.appendingPathComponent("cat.png").path
        #expect(throws: MMAttnError.self) { try PNGImage.decode(path: cat, maxPixels: 100_000) }
        let exact = try PNGImage.decode(path: cat, maxPixels: 451 * 300)
        #expect(exact.width == 451)
    }

    @Test func rejectsCorruptChunks() throws {
        var bytes = [UInt8](try Data(contentsOf: Self.images.appendingPathComponent("kinds/palette4.png")))
        // IHDR CRC.
        var crcBroken = bytes
        crcBroken[30] ^= 0xFF
        #expect(throws: MMAttnError.self) { try PNGImage.decode(data: Data(crcBroken), file: "crc.png") }
        // A byte of the compressed data flipped: the IDAT CRC no longer matches.
        let idat = try #require(Self.find("IDAT", in: bytes))
        bytes[idat + 10] ^= 0x55
        #expect(throws: MMAttnError.self) { try PNGImage.decode(data: Data(bytes), file: "idat.png") }
    }

    static func find(_ type: String, in bytes: [UInt8]) -> Int? {
        let t = Array(type.utf8)
        return (0..<(bytes.count - 4)).first { Array(bytes[$0..<$0 + 4]) == t }
    }

    @Test func rejectsPathsThatAreNotImages() throws {
        do { _ = try PNGImage.decode(path: "/nonexistent/cat.png"); Issue.record("accepted") } catch let e as MMAttnError {
            #expect(e.file == "/nonexistent/cat.png" && e.message.contains("cannot open"))
        }
        do { _ = try PNGImage.decode(path: Self.images.path); Issue.record("accepted") } catch let e as MMAttnError {
            #expect(e.message.contains("not a regular file"))
        }
    }

    // MARK: - Resizing

    @Test func resizeMatchesPillow() throws {
        let cases = try #require(Self.json("resize.json", "cases")?.array)
        let sources = ["cat.png": try Self.loadImage("cat.png"), "camera.png": try Self.loadImage("camera.png")]
        func field(_ e: JSONFields, _ key: String) throws -> String { let v = try e.string(key); return try #require(v) }
        var checked = 0, differing = 0, compared = 0
        for c in cases {
            let e = try JSONFields(c, file: "resize.json")
            let imageName = try field(e, "image")
            var source = try #require(sources[imageName])
            if let columns = e.object["source_columns"]?.array?.compactMap({ $0.int }), columns.count == 2 {
                source = Self.columns(source, columns[0]..<columns[1])
            }
            let filterID = try e.int("filter")
            let filter = try #require(ResampleFilter(rawValue: filterID))
            let w = try e.int("width"), h = try e.int("height"), crc = try e.int("crc32")
            let out = source.resized(width: w, height: h, filter: filter)
            let label = "\(imageName) \(filter.name) \(w)×\(h)"
            #expect(out.width == w && out.height == h)
            #expect(Int(Self.crc32(out.pixels)) == crc, "\(label): differs from Pillow")
            if let crop = try e.fields("crop") {
                let ref = try NPY.read(Self.reference.appendingPathComponent(try field(crop, "npy")).path)
                let region = Self.crop(out, x: try crop.int("x"), y: try crop.int("y"),
                                       width: try crop.int("width"), height: try crop.int("height"))
                let (d, largest) = Self.compare(region, ref)
                // The issue's bar: at most 1 level off on fewer than 0.1 % of the values.
                #expect(largest <= 1 && d * 1000 < region.count, "\(label): \(d) values differ, by up to \(largest)")
                differing += d
                compared += region.count
            }
            checked += 1
        }
        #expect(checked == 66 && compared > 0 && differing == 0)
    }

    static func columns(_ image: RGBImage, _ range: Range<Int>) -> RGBImage {
        RGBImage(width: range.count, height: image.height,
                 pixels: crop(image, x: range.lowerBound, y: 0, width: range.count, height: image.height))
    }

    static func crop(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) -> [UInt8] {
        var out: [UInt8] = []
        for row in y..<(y + height) {
            out += image.pixels[((row * image.width + x) * 3)..<((row * image.width + x + width) * 3)]
        }
        return out
    }

    @Test func resizeEdgeCases() throws {
        let cat = try Self.loadImage("cat.png")
        #expect(cat.resized(width: 451, height: 300, filter: .lanczos) == cat)
        for filter in ResampleFilter.allCases {
            let tiny = cat.resized(width: 1, height: 1, filter: filter)
            #expect(tiny.pixels.count == 3)
            // One source pixel gets the whole weight: every output pixel is that pixel.
            let big = tiny.resized(width: 7, height: 5, filter: filter)
            #expect(big.pixels == Array([[UInt8]](repeating: tiny.pixels, count: 35).joined()), "\(filter.name)")
            let wide = cat.resized(width: 2000, height: 1, filter: filter)
            #expect(wide.width == 2000 && wide.height == 1)
        }
        // A uniform image stays uniform under every filter (the weights sum to 1 in fixed point).
        let gray = RGBImage(width: 9, height: 4, pixels: [UInt8](repeating: 77, count: 9 * 4 * 3))
        for filter in ResampleFilter.allCases {
            #expect(gray.resized(width: 23, height: 3, filter: filter).pixels.allSatisfy { $0 == 77 })
        }
    }

    // MARK: - Preprocessing

    @Test func processorsMatchTransformers() throws {
        let cases = try #require(Self.json("processors.json", "cases")?.array)
        func field(_ e: JSONFields, _ key: String) throws -> String { let v = try e.string(key); return try #require(v) }
        func ints(_ e: JSONFields, _ key: String) throws -> [Int] { let v = e.object[key]?.array?.compactMap { $0.int }; return try #require(v) }
        var images: [String: RGBImage] = [:]
        for c in cases {
            let e = try JSONFields(c, file: "processors.json")
            let configPath = Self.reference.appendingPathComponent(try field(e, "config")).path
            let name = try field(e, "image")
            let label = "\(configPath.split(separator: "/").last ?? "") on \(name)"
            let image = try images[name] ?? Self.loadImage(name)
            images[name] = image
            let config = try JSONFields.load(configPath)
            let processor = try ImagePreprocessor(config: config)
            // The family's defaults named explicitly give the same processor.
            let explicit = try ImagePreprocessor(config: config, defaults: .defaults(for: try field(e, "family")))
            #expect(explicit.summary == processor.summary)

            let resized = try processor.resized(image)
            let resizedCRC = try e.int("resized_crc32"), valuesCRC = try e.int("pixel_values_crc32")
            let refSum = try e.double("pixel_values_sum", default: .nan)
            #expect(Int(Self.crc32(resized.pixels)) == resizedCRC, "\(label): resized uint8 differs")
            let pv = try processor(image)  // [3, H, W]
            let shape = try ints(e, "shape")
            #expect(pv.shape == shape, "\(label)")
            guard pv.shape == shape else { continue }
            #expect(processor.outputSize(height: image.height, width: image.width) == (shape[1], shape[2]))

            let rows = try ints(e, "rows")
            let ref = try NPY.read(Self.reference.appendingPathComponent(try field(e, "npy")).path)  // [3, rows, W]
            var largest: Float = 0
            let plane = shape[1] * shape[2], span = (rows[1] - rows[0]) * shape[2]
            for ch in 0..<3 {
                for i in 0..<span {
                    largest = max(largest, abs(pv.data[ch * plane + rows[0] * shape[2] + i] - ref.data[ch * span + i]))
                }
            }
            #expect(largest == 0, "\(label): pixel_values differ by \(largest)")  // measured 0 in all 20 cases (bit-identical)
            #expect(Int(Self.crc32(pv)) == valuesCRC, "\(label): pixel_values not bit-identical")
            let sum = pv.values.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - refSum) <= 1e-6 * Double(pv.count), "\(label)")
        }
        #expect(cases.count == 20)
    }

    @Test func familyDefaults() {
        let vit = ImagePreprocessor.defaults(for: "vit")
        #expect(vit.size == .fixed(height: 224, width: 224) && vit.resample == .bilinear && !vit.doCenterCrop)
        #expect(vit.imageMean == [0.5, 0.5, 0.5] && vit.imageStd == [0.5, 0.5, 0.5] && vit.rescaleFactor == 1.0 / 255)
        let deit = ImagePreprocessor.defaults(for: "deit")
        #expect(deit.size == .fixed(height: 256, width: 256) && deit.resample == .bicubic)
        #expect(deit.doCenterCrop && deit.cropSize == (224, 224) && deit.imageMean == [0.5, 0.5, 0.5])
        #expect(deit.outputSize(height: 300, width: 451) == (224, 224))
        let wide = deit.resizing(toHeight: 160, width: 320)
        #expect(wide.outputSize(height: 300, width: 451) == (160, 320))
    }

    @Test func imageSizeOverride() throws {
        let cat = try Self.loadImage("cat.png")
        let pv = try ImagePreprocessor.deit.resizing(toHeight: 48, width: 80)(cat)
        #expect(pv.shape == [3, 48, 80])
        let expected = ImagePreprocessor.deit.normalized(cat.resized(width: 80, height: 48, filter: .bicubic))
        #expect(pv.values == expected.values)
        #expect(throws: MMAttnError.self) { try ImagePreprocessor.vit.resizing(toHeight: 0, width: 10)(cat) }
        #expect(throws: MMAttnError.self) { try ImagePreprocessor.vit.resizing(toHeight: 10_000, width: 10_000)(cat) }
    }

    @Test(arguments: [
        (#"{"size": 0}"#, "size"),
        (#"{"size": {"height": 0, "width": 0}}"#, "size.height"),
        (#"{"size": {"height": 224}}"#, "keys"),
        (#"{"size": {"shortest_edge": -3}}"#, "shortest_edge"),
        (#"{"size": "224"}"#, "size"),
        (#"{"size": 100000}"#, "size"),
        (#"{"size": {"height": 16000, "width": 16000}}"#, "more than"),
        (#"{"crop_size": {"shortest_edge": 224}}"#, "crop_size"),
        (#"{"crop_size": 0}"#, "crop_size"),
        (#"{"resample": 7}"#, "resample"),
        (#"{"resample": "bilinear"}"#, "resample"),
        (#"{"image_mean": [0.5, 0.5]}"#, "image_mean"),
        (#"{"image_std": [0.5, 0.5, 0.5, 0.5]}"#, "image_std"),
        (#"{"image_std": [0.5, 0, 0.5]}"#, "image_std"),
        (#"{"image_mean": "0.5"}"#, "image_mean"),
        (#"{"do_resize": 1}"#, "do_resize"),
        (#"{"rescale_factor": "1/255"}"#, "rescale_factor"),
    ])
    func rejectsBadConfigs(_ text: String, _ key: String) throws {
        let config = try JSONFields(JSON.parse(Data(text.utf8)), file: "preprocessor_config.json")
        do {
            _ = try ImagePreprocessor(config: config)
            Issue.record("\(text) was accepted")
        } catch let error as MMAttnError {
            #expect(error.file == "preprocessor_config.json" && error.message.contains(key), "\(error)")
        }
    }

    @Test func acceptsScalarMeanAndUnknownKeys() throws {
        let text = #"{"image_mean": 0.25, "image_std": 2, "processor_class": "X", "mmattn_corpus_extra": {"a": [1]}}"#
        let p = try ImagePreprocessor(config: JSONFields(JSON.parse(Data(text.utf8)), file: "p.json"))
        #expect(p.imageMean == [0.25, 0.25, 0.25] && p.imageStd == [2, 2, 2])
    }
}
