import Foundation
import Testing
@testable import MMAttn

/// A fresh temporary folder, removed by `cleanup`.
private struct TempFolder {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-st-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Safetensors bytes from a header text (padded with spaces to a multiple of 8 unless `pad` is false) and data.
private func build(_ header: String, _ data: [UInt8] = [], pad: Bool = true) -> [UInt8] {
    var h = Array(header.utf8)
    if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
    return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + data
}

private func le<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian, Array.init) }
}

private func f32(_ values: [Float]) -> [UInt8] { le(values.map(\.bitPattern)) }

@Suite struct SafetensorsTests {
    /// Open `bytes` as a file (the mapping outlives the temporary file).
    func open(_ bytes: [UInt8]) throws -> SafetensorsFile {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        return try SafetensorsFile(path: dir.write(bytes, "t.safetensors"))
    }

    /// `bytes` must be rejected with an error naming the file and containing `fragment`.
    func expectRejected(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        let path = try dir.write(bytes, "t.safetensors")
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("accepted a file that should be rejected for: \(fragment)", sourceLocation: sourceLocation)
        } catch let e as MMAttnError {
            #expect(e.file == path, sourceLocation: sourceLocation)
            #expect(e.message.contains(fragment), "\(e.message)", sourceLocation: sourceLocation)
        }
    }

    // MARK: writer and reader

    @Test func roundTripsThroughWriterAndReader() throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        let a = Tensor(shape: [2, 3], values: [1, -2, 3.5, .pi, 0, -0.0])        // [2, 3]
        let b = Tensor(shape: [], values: [42])                                  // scalar
        let c = Tensor(zeros: [0, 4])                                            // empty
        let odd = Tensor(shape: [1], values: [.greatestFiniteMagnitude])         // [1]
        let name = "weird \"name\"\\ é\n"
        let path = dir.file("out.safetensors")
        try SafetensorsWriter.write(["b": b, "a": a, "c": c, name: odd], metadata: ["format": "pt", "k\"": "v\t"], to: path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.safetensors"])

        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt", "k\"": "v\t"])
        #expect(file.names == ["a", "b", "c", name])                          // data order = name order
        #expect(try file.tensor("a").shape == [2, 3])
        #expect(try file.tensor("a").values.map(\.bitPattern) == a.values.map(\.bitPattern))
        #expect(try file.tensor("b").shape == [] && file.tensor("b").values == [42])
        #expect(try file.tensor("c").shape == [0, 4] && file.tensor("c").count == 0)
        #expect(try file.tensor(name).values == [.greatestFiniteMagnitude])
        #expect(file.info("a")?.dataOffsets == 0..<24 && file.info("b")?.dataOffsets == 24..<28)

        // Header padded to a multiple of 8; F32 comes back as a view into the mapping, not a copy.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) } % 8 == 0)
        let viewed = try file.tensor("a")
        #expect(file.withBytes("a") { UnsafeRawPointer($0.baseAddress!) } == UnsafeRawPointer(viewed.pointer))
        #expect(!viewed.isWritable && viewed.copy().isWritable)  // weights are read-only views; copies are not
    }

    @Test func writerMatchesTheReferenceLayout() throws {
        // Byte layouts the reference serializer produces for these inputs.
        let t = Tensor(shape: [1, 2, 3], values: [0, 1, 2, 3, 4, 5])
        let one = try SafetensorsWriter.encode(["attn.0": t])
        #expect(Array(one) == build(#"{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}"#, f32([0, 1, 2, 3, 4, 5])))
        #expect(Array(try SafetensorsWriter.encode([:])) == build("{}"))
        #expect(Array(try SafetensorsWriter.encode([:], metadata: ["framework": "pt"])) == build(#"{"__metadata__":{"framework":"pt"}}"#))
        #expect(build("{}").count == 16 && build(#"{"__metadata__":{"framework":"pt"}}"#).count == 48)
        #expect(throws: MMAttnError.self) { try SafetensorsWriter.encode(["__metadata__": t]) }
    }

    @Test func tensorOutlivesTheFileObject() throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        let path = dir.file("w.safetensors")
        try SafetensorsWriter.write(["w": Tensor(shape: [3], values: [7, 8, 9])], to: path)
        let t = try { try SafetensorsFile(path: path).tensor("w") }()
        try FileManager.default.removeItem(atPath: path)    // the mapping keeps the data alive
        #expect(t.values == [7, 8, 9])
    }

    // MARK: validation, one rule at a time

    static let ok = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test func acceptsTheMinimalValidFiles() throws {
        #expect(try open(build(Self.ok, f32([1, 2]))).tensor("x").values == [1, 2])
        #expect(try open(build("{}")).names.isEmpty)
        // Trailing JSON whitespace of any kind, and generous space padding.
        #expect(try open(build("{}\r \t\n", pad: false)).names.isEmpty)
        #expect(try open(build(Self.ok + String(repeating: " ", count: 64), f32([1, 2]))).names == ["x"])
        // Zero-sized tensors share an offset; a scalar has shape [].
        let h = #"{"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},"f":{"dtype":"I32","shape":[0],"data_offsets":[0,0]},"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}"#
        let f = try open(build(h, le([Int32(5)])))
        #expect(f.info("s")?.shape == [] && f.info("s")?.byteCount == 4)
        #expect(try f.tensor("e").shape == [2, 0])
        // Unknown fields inside an entry are ignored, as the reference parser does; null metadata is none.
        #expect(try open(build(#"{"__metadata__":null,"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}}"#, f32([1, 2]))).metadata.isEmpty)
    }

    @Test func rejectsShortAndTruncatedFiles() throws {
        try expectRejected([], "empty")
        try expectRejected([1, 0, 0], "too short")
        try expectRejected(le([UInt64(0x3C)]), "only 0 bytes follow")                       // header past EOF
        try expectRejected(le([UInt64(1_000_000)]) + Array(repeating: 0x20, count: 72), "only 72 bytes follow")
        try expectRejected(Array(build(Self.ok, f32([1, 2])).dropLast(2)), "past the end of the data buffer")
        try expectRejected(build(Self.ok, f32([1, 2]) + [0]), "1 byte(s) after the last tensor")
        try expectRejected(build(Self.ok, f32([1, 2]) + Array("extra_bogus_data".utf8)), "belong to no tensor")
    }

    @Test func rejectsHeaderTooLarge() throws {
        try expectRejected(le([UInt64(100_000_001)]) + Array(repeating: 0x20, count: 16), "100000000-byte limit")
        try expectRejected([0x3C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF] + Array(repeating: 0x20, count: 16), "limit")
        try expectRejected(le([UInt64.max]) + Array(repeating: 0x20, count: 16), "limit")
    }

    @Test func rejectsHeadersThatAreNotAJSONObject() throws {
        try expectRejected(build("this is not json at all!"), "not valid JSON")
        try expectRejected(build("{", pad: false), "not valid JSON")
        try expectRejected(build("[1, 2, 3]"), "must be a JSON object")
        try expectRejected(build("\"x\""), "must be a JSON object")
        try expectRejected(build("<\"x\":1}"), "not valid JSON")
        try expectRejected(le([UInt64(1)]) + [0xFF], "not UTF-8")
        try expectRejected(build("{}\0\0\0\0\0\0", pad: false), "not valid JSON")      // NUL is not JSON padding
        try expectRejected(build(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32([1, 2])), "duplicate key")
        try expectRejected(build(#"{"x":[1]}"#), "must be an object with dtype")
        try expectRejected(build(#"{"__metadata__":{"a":1}}"#), "map strings to strings")
        try expectRejected(build(#"{"__metadata__":[]}"#), "__metadata__")
    }

    @Test func rejectsBadEntries() throws {
        func entry(_ dtype: String = "\"F32\"", _ shape: String = "[2]", _ offsets: String = "[0,8]") -> [UInt8] {
            build("{\"x\":{\"dtype\":\(dtype),\"shape\":\(shape),\"data_offsets\":\(offsets)}}", f32([1, 2]))
        }
        try expectRejected(entry("\"F33\""), "unknown dtype \"F33\"")
        try expectRejected(entry("\"f32\""), "unknown dtype")
        try expectRejected(entry("32"), "\"dtype\" must be a string")
        try expectRejected(build(#"{"x":{"shape":[2],"data_offsets":[0,8]}}"#, f32([1, 2])), "no \"dtype\"")
        try expectRejected(build(#"{"x":{"dtype":"F32","data_offsets":[0,8]}}"#, f32([1, 2])), "no \"shape\"")
        try expectRejected(build(#"{"x":{"dtype":"F32","shape":[2]}}"#, f32([1, 2])), "no \"data_offsets\"")
        try expectRejected(entry("\"F32\"", "[-2]"), "is negative")
        try expectRejected(entry("\"F32\"", "[2.0]"), "non-negative integer")
        try expectRejected(entry("\"F32\"", "[2e0]"), "non-negative integer")
        try expectRejected(entry("\"F32\"", "[\"2\"]"), "non-negative integer")
        try expectRejected(entry("\"F32\"", "2"), "must be a list")
        try expectRejected(entry("\"F32\"", "[2]", "[0,-8]"), "is negative")
        try expectRejected(entry("\"F32\"", "[2]", "[0,8,16]"), "found a list of 3 values")
        try expectRejected(entry("\"F32\"", "[2]", "[0]"), "[begin, end]")
        try expectRejected(entry("\"F32\"", "[2]", "[0,8.5]"), "non-negative integer")
        try expectRejected(entry("\"F32\"", "[2]", "[8,0]"), "begin after end")
        // shape × element size must equal end − begin.
        try expectRejected(entry("\"F32\"", "[3]"), "needs 12 bytes, but data_offsets [0, 8] hold 8")
        try expectRejected(entry("\"F16\""), "needs 4 bytes")
        try expectRejected(entry("\"F4\"", "[3]"), "do not fill whole bytes")
        // Overflowing shapes (the reference parser's test_validation_overflow cases).
        try expectRejected(entry("\"I32\"", "[2,18446744073709551614]"), "overflows 64-bit")
        try expectRejected(entry("\"I32\"", "[2,9223372036854775807]"), "overflows 64 bits")
        try expectRejected(entry("\"F32\"", "[4294967296,4294967296]"), "overflows 64 bits")
        try expectRejected(entry("\"F32\"", "[2]", "[0,18446744073709551616]"), "overflows 64-bit")
    }

    @Test func rejectsOffsetsOutsideTheBufferOverlapsAndHoles() throws {
        try expectRejected(build(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[1000000,1000016]}}"#, f32([1, 2, 3, 4])), "past the end of the data buffer")
        let overlap = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        try expectRejected(build(overlap, f32([1, 2, 3, 4, 5, 6])), "overlap")
        let same = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        try expectRejected(build(same, f32([1, 2])), "overlap")
        let hole = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        try expectRejected(build(hole, f32([1, 2, 3])), "bytes 4..<8 after tensor \"a\" belong to no tensor")
        let start = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        try expectRejected(build(start, f32([1, 2])), "at the start of the data buffer")
        // A zero-sized tensor inside another one is an overlap too.
        let inside = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#
        try expectRejected(build(inside, f32([1, 2])), "overlap")
    }

    @Test func recognisesGitLFSPointers() throws {
        let pointer = Array("version https://git-lfs.github.com/spec/v1\noid sha256:0123456789abcdef\nsize 90868376\n".utf8)
        try expectRejected(pointer, "Git LFS pointer, not the weights: run git lfs pull")
    }

    // MARK: dtype conversion

    @Test func convertsHalfPrecisionExactly() throws {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0), (0x8000, -0.0), (0x3C00, 1), (0xC000, -2), (0x3555, 0.333251953125),
            (0x7BFF, 65504), (0x0400, 0x1p-14), (0x03FF, 1023 * 0x1p-24), (0x0001, 0x1p-24), (0x8001, -0x1p-24),
            (0x7C00, .infinity), (0xFC00, -.infinity),
        ]
        let bits = cases.map(\.0) + [0x7E00, 0x7C01, 0xFFFF]
        let header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[\(bits.count)],\"data_offsets\":[0,\(2 * bits.count)]}}"
        let values = try open(build(header, le(bits))).tensor("h").values
        for (i, (b, expected)) in cases.enumerated() {
            #expect(values[i].bitPattern == expected.bitPattern, "F16 0x\(String(b, radix: 16)) -> \(values[i]), expected \(expected)")
        }
        #expect(values[cases.count...].allSatisfy { $0.isNaN })
        #expect(values[bits.count - 1].sign == .minus)
    }

    #if !(os(macOS) && arch(x86_64))
    @Test func convertsEveryHalfAsTheHardwareDoes() {
        var out = [Float](repeating: 0, count: 65536)
        let all = (0...UInt16.max).map { $0 }
        all.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { FloatConversion.halfToFloat(src.baseAddress!, $0.baseAddress!, 65536) } }
        for h in all {
            let reference = Float(Float16(bitPattern: h))
            if reference.isNaN { #expect(out[Int(h)].isNaN); continue }
            #expect(out[Int(h)].bitPattern == reference.bitPattern, "0x\(String(h, radix: 16))")
        }
    }
    #endif

    @Test func convertsBFloat16AndFloat64() throws {
        let bf: [UInt16] = [0x3F80, 0xC040, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x4049]
        let bfExpected: [Float] = [1, -3, Float(bitPattern: 0x0001_0000), -0.0, .infinity, -.infinity, .nan, 3.140625]
        let d: [Double] = [0.1, -1e300, 1e-50, .nan, 3.0, -0.0]
        let header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]},\"d\":{\"dtype\":\"F64\",\"shape\":[6],\"data_offsets\":[16,64]}}"
        do {
            let f = try open(build(header, le(bf) + le(d.map(\.bitPattern))))
            let b = try f.tensor("b")
            #expect(b.shape == [2, 4])
            for (x, e) in zip(b.values, bfExpected) { #expect(x.bitPattern == e.bitPattern || (x.isNaN && e.isNaN)) }
            let v = try f.tensor("d").values
            #expect(v[0] == Float(0.1) && v[1] == -.infinity && v[2] == 0 && v[3].isNaN && v[4] == 3)
            #expect(v[5].bitPattern == (-0.0 as Float).bitPattern)
        }
    }

    /// A file written by the real safetensors + torch (Fixtures/safetensors/make_reference.py): every
    /// conversion must equal torch's own `.float()` bit for bit (NaN as NaN).
    @Test func matchesTorchConversions() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/safetensors/reference.safetensors").path
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata["format"] == "pt")
        for (name, dtype) in [("half", SafetensorsDType.F16), ("bf16", .BF16), ("f64", .F64), ("f32", .F32)] {
            #expect(f.info(name)?.dtype == dtype)
            let ours = try f.tensor(name), torch = try f.tensor(name + ".as_f32")
            #expect(ours.shape == torch.shape && ours.count == 14)
            for (a, b) in zip(ours.values, torch.values) {
                #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "\(name): \(a) vs torch \(b)")
            }
        }
    }

    @Test func copiesUnalignedFloat32AndRejectsIntegers() throws {
        // A 9-byte header puts the data at file offset 17: not 4-byte aligned.
        let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"i":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}"#
        let bytes = build(header + " ", f32([1.5, -2, 3]) + le([Int64(7)]), pad: false)
        #expect((8 + header.utf8.count + 1) % 4 != 0)
        do {
            let f = try open(bytes)
            let a = try f.tensor("a")
            #expect(a.values == [1.5, -2, 3])
            #expect(a.isWritable && f.withBytes("a") { UnsafeRawPointer($0.baseAddress!) } != UnsafeRawPointer(a.pointer))
            #expect(f.info("i")?.dtype == .I64 && f.info("i")?.byteCount == 8)
            #expect { try f.tensor("i") } throws: { ($0 as? MMAttnError)?.message.contains("dtype I64") == true }
            #expect { try f.tensor("nope") } throws: { ($0 as? MMAttnError)?.message.contains("missing tensor") == true }
        }
    }

    // MARK: checkpoints

    @Test func opensASingleFileCheckpointWithScopesAndChecks() throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        let q = Tensor(shape: [2, 2], values: [1, 2, 3, 4])                           // [D, D]
        try SafetensorsWriter.write(["vit.encoder.layer.0.query.weight": q, "vit.embeddings.cls_token": Tensor(zeros: [1, 1, 2])],
                                    to: dir.file("model.safetensors"))
        let ckpt = try Checkpoint(folder: dir.path)
        #expect(ckpt.names == ["vit.embeddings.cls_token", "vit.encoder.layer.0.query.weight"])
        #expect(ckpt.contains("vit.embeddings.cls_token") && !ckpt.contains("embeddings.cls_token"))
        #expect(ckpt.info("vit.encoder.layer.0.query.weight")! == ("F32", [2, 2], 16))
        #expect(ckpt.totalBytes == 24 && ckpt.dtypeCounts == ["F32": 2] && ckpt.parameterCount == 6)

        let prefix = try ckpt.prefix(among: ["", "deit.", "vit."], probing: "embeddings.cls_token")
        #expect(prefix == "vit.")
        let w = ckpt.scoped(prefix)
        #expect(try w.tensor("encoder.layer.0.query.weight", shape: [2, 2]).values == [1, 2, 3, 4])
        #expect(try w.scoped("encoder.layer.0.").tensor("query.weight").shape == [2, 2])
        #expect(try w.tensorIfPresent("encoder.layernorm.weight", shape: [2]) == nil)

        let file = dir.file("model.safetensors")
        #expect { try w.tensor("encoder.layer.0.key.weight", shape: [2, 2]) } throws: { e in
            let e = e as? MMAttnError
            return e?.file == file && e?.message.hasPrefix("missing tensor \"vit.encoder.layer.0.key.weight\"") == true
        }
        #expect { try w.tensor("encoder.layer.0.query.weight", shape: [3, 2]) } throws: { e in
            let e = e as? MMAttnError
            return e?.file == file && e?.message.hasPrefix("tensor \"vit.encoder.layer.0.query.weight\" has shape [2, 2], expected [3, 2]") == true
        }
        #expect { try ckpt.prefix(among: ["bert."], probing: "embeddings.cls_token") } throws: {
            ($0 as? MMAttnError)?.message.contains("\"bert.embeddings.cls_token\"") == true
        }
        // The .safetensors file itself works as well as its folder.
        #expect(try Checkpoint(folder: file).names.count == 2)
    }

    @Test func opensAShardedCheckpoint() throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        try SafetensorsWriter.write(["a": Tensor(shape: [2], values: [1, 2]), "b": Tensor(shape: [1], values: [3])],
                                    to: dir.file("model-00001-of-00002.safetensors"))
        let half: [UInt16] = [0x3C00, 0x4000]
        _ = try dir.write(build(#"{"c":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"p":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}"#, le(half) + le([Int64(0)])),
                          "model-00002-of-00002.safetensors")
        let index = #"{"metadata":{"total_size":28},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors","p":"model-00002-of-00002.safetensors"}}"#
        _ = try dir.write(Array(index.utf8), "model.safetensors.index.json")

        let ckpt = try Checkpoint(folder: dir.path)
        #expect(ckpt.names == ["a", "b", "c", "p"])
        #expect(ckpt.files.count == 2 && ckpt.source == dir.file("model.safetensors.index.json"))
        #expect(try ckpt.tensor("a", shape: [2]).values == [1, 2])
        #expect(try ckpt.tensor("c", shape: [2]).values == [1, 2])
        #expect(ckpt.dtypeCounts == ["F32": 2, "F16": 1, "I64": 1])
        #expect(ckpt.totalBytes == 24 && ckpt.parameterCount == 5)
        #expect { try ckpt.tensor("c", shape: [3]) } throws: { ($0 as? MMAttnError)?.file == dir.file("model-00002-of-00002.safetensors") }
        #expect { try ckpt.tensor("zz") } throws: { ($0 as? MMAttnError)?.file == dir.file("model.safetensors.index.json") }

        func rejected(_ index: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            _ = try dir.write(Array(index.utf8), "model.safetensors.index.json")
            #expect(sourceLocation: sourceLocation) { try Checkpoint(folder: dir.path) } throws: { e in
                let e = e as? MMAttnError
                return e?.file == dir.file("model.safetensors.index.json") && e?.message.contains(fragment) == true
            }
        }
        try rejected(#"{"weight_map":{"a":"model-00003-of-00003.safetensors"}}"#, "not in the folder")
        try rejected(#"{"weight_map":{"a":"model-00002-of-00002.safetensors"}}"#, "does not hold it")
        try rejected(#"{"weight_map":{"a":"../model-00001-of-00002.safetensors"}}"#, "inside the model folder")
        try rejected(#"{"weight_map":{"a":"/etc/passwd"}}"#, "inside the model folder")
        try rejected(#"{"weight_map":{"a":3}}"#, "shard file names")
        try rejected(#"{"weight_map":{}}"#, "empty")
        try rejected(#"{"metadata":{}}"#, "no \"weight_map\"")
        // The same tensor in two shards.
        try SafetensorsWriter.write(["a": Tensor(shape: [1], values: [9])], to: dir.file("extra.safetensors"))
        try rejected(#"{"weight_map":{"a":"model-00001-of-00002.safetensors","x":"extra.safetensors"}}"#, "is in two shards")
    }

    @Test func explainsFoldersWithoutSafetensors() throws {
        let dir = try TempFolder()
        defer { dir.cleanup() }
        #expect { try Checkpoint(folder: dir.file("absent")) } throws: { ($0 as? MMAttnError)?.message.contains("not found") == true }
        #expect { try Checkpoint(folder: dir.path) } throws: { ($0 as? MMAttnError)?.message.contains("no model.safetensors") == true }
        // Without safetensors, pytorch_model.bin is read (CheckpointFormTests); a cut one is a clear error.
        _ = try dir.write([0x80, 0x02], "pytorch_model.bin")
        #expect { try Checkpoint(folder: dir.path) } throws: { e in
            let m = (e as? MMAttnError)?.message ?? ""
            return m.contains("truncated") && !m.contains("\n")
        }
    }

    // MARK: the shared bad-input corpus

    @Test(.needsBadInputs) func handlesTheBadInputCorpus() throws {
        let root = try #require(Paths.badInputs) + "/safetensors"
        let files = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        #expect(files.count >= 13)
        for rel in files {
            let path = (root as NSString).appendingPathComponent(rel)
            let name = (rel as NSString).lastPathComponent
            let valid = name.hasPrefix("valid_") || rel.hasPrefix("reader-only/")
            let either = name.hasPrefix("either_")
            do {
                let f = try SafetensorsFile(path: path)
                for n in f.names where f.info(n)!.dtype.isReadableAsFloat { _ = try f.tensor(n).values }
                #expect(valid || either, "accepted \(rel)")
            } catch let e as MMAttnError {
                #expect(!valid, "rejected valid \(rel): \(e)")
                #expect(e.file == path)
                if rel.hasPrefix("git-lfs-pointer/") { #expect(e.message.contains("Git LFS pointer")) }
            }
        }
        // What the valid files hold.
        let mixed = try SafetensorsFile(path: root + "/reader-only/valid_mixed_dtypes.safetensors")
        #expect(Set(mixed.names.compactMap { mixed.info($0)?.dtype.rawValue }) == ["F32", "F16", "BF16", "I64"])
        let padded = try SafetensorsFile(path: root + "/reader-only/valid_padded_header_with_metadata.safetensors")
        #expect(padded.metadata == ["format": "pt"])
    }
}

/// Load time of a real-sized checkpoint, run only on request (release build):
/// `MMATTN_SAFETENSORS_BENCH=/tmp/big.safetensors swift test -c release --filter SafetensorsBenchmark`.
@Suite struct SafetensorsBenchmark {
    static let path = ProcessInfo.processInfo.environment["MMATTN_SAFETENSORS_BENCH"]

    @Test(.enabled(if: path != nil)) func openValidateAndFetchEverything() throws {
        let path = try #require(Self.path)
        var times: [Double] = []
        var checksum: Float = 0
        for _ in 0..<7 {
            let start = DispatchTime.now().uptimeNanoseconds
            let ckpt = try Checkpoint(folder: path)
            for name in ckpt.names {
                let t = try ckpt.tensor(name)
                if t.count > 0 { checksum += t.data[t.count - 1] }
            }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        let ckpt = try Checkpoint(folder: path)
        print("benchmark \(path): \(ckpt.names.count) tensors, \(ckpt.totalBytes / 1_000_000) MB \(ckpt.dtypeCounts): open + validate + fetch all: min \(String(format: "%.2f", times[0])) ms, median \(String(format: "%.2f", times[3])) ms (checksum \(checksum))")
    }
}
