import Foundation
@testable import MMAttn
import Testing

/// Bounds the readers keep before they allocate (docs/hardening.md), checked on the inputs that
/// used to pass them.
@Suite struct HardeningTests {
    @Test func jsonAndNPYFilesMustBeRegularFiles() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/config.json"
        #expect(mkfifo(fifo, 0o600) == 0)
        // A FIFO has no size to check against the cap, and reading it would block: refused at once.
        let jsonError = #expect(throws: MMAttnError.self) { try JSON.load(contentsOf: fifo) }
        #expect(jsonError?.message.contains("not a regular file") == true)
        let npyError = #expect(throws: MMAttnError.self) { try NPY.read(dir) }
        #expect(npyError?.file == dir)
    }

    @Test func anEmptyJSONFileIsAnError() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/empty.json", contents: Data())
        #expect(throws: MMAttnError.self) { try JSON.load(contentsOf: dir + "/empty.json") }
    }

    @Test func resizingRefusesSidesPastTheBound() throws {
        let side = ImagePreprocessor.maxInputSide
        let wide = RGBImage(width: side + 1, height: 1, pixels: [UInt8](repeating: 128, count: (side + 1) * 3))
        let error = #expect(throws: MMAttnError.self) { try ImagePreprocessor.deit(wide) }
        #expect(error?.message.contains("\(side) pixels a side") == true)
        // At the bound itself the resampling weights are small (about 16 bytes per source pixel).
        let edge = RGBImage(width: side, height: 1, pixels: [UInt8](repeating: 128, count: side * 3))
        #expect(try ImagePreprocessor.deit(edge).shape == [3, 224, 224])
    }

    @Test func anEmptyTorchTensorWithHugeSizesReadsAsEmpty() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Paths.repo.appendingPathComponent("Tests/FuzzRegressions/pickle/empty-tensor-huge-sizes.bin").path,
                                         toPath: dir + "/pytorch_model.bin")
        let checkpoint = try Checkpoint(folder: dir)
        let w = try checkpoint.tensor("w")
        #expect(w.shape == [0, 1 << 40, 1 << 40])
        #expect(w.count == 0)
    }

    @Test func keyedHashesAgreeWithinTheProcess() {
        let a = Array("P0DTC2|spike".utf8), b = Array("P0DTC2|spike".utf8)
        #expect(keyedHash(a) == keyedHash(b))
        #expect(keyedHash(a) != keyedHash(Array("P0DTC2|spikf".utf8)))
    }
}
