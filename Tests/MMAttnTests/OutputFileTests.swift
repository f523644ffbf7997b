import Foundation
import Testing
@testable import MMAttn

@Suite struct OutputFileTests {
    let t = Tensor(shape: [2, 3], values: [1, -2.5, 3, 4, 5e-7, 6])

    @Test func jsonHoldsNestedArrays() throws {
        let dir = CLI.tempDir()
        try OutputFile.write(t, primaryName: "x", to: dir + "/x.json")
        let json = try JSON.load(contentsOf: dir + "/x.json")
        let rows = try #require(json.array)
        #expect(rows.count == 2)
        #expect(rows[1].array?.compactMap(\.double).map(Float.init) == [4, 5e-7, 6])
    }

    @Test func npyAndSafetensorsRoundTrip() throws {
        let dir = CLI.tempDir()
        try OutputFile.write(t, primaryName: "x", to: dir + "/x.npy")
        #expect(try NPY.read(dir + "/x.npy").values == t.values)
        try OutputFile.write(t, primaryName: "x", named: [("a/mean", t), ("b/mean", t.reshaped([6]))], to: dir + "/x.safetensors")
        let file = try SafetensorsFile(path: dir + "/x.safetensors")
        #expect(Set(file.names) == ["a/mean", "b/mean"])
        #expect(try file.tensor("b/mean").shape == [6])
        // Only the finished files are there: no temporary names left behind.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["x.npy", "x.safetensors"])
    }

    @Test func unknownExtensionIsAnError() {
        #expect(throws: MMAttnError.self) { try OutputFile.format(of: "/tmp/x.csv") }
    }

    @Test func failedWriteLeavesNothing() throws {
        let dir = CLI.tempDir()
        #expect(throws: MMAttnError.self) { try OutputFile.write(t, primaryName: "x", to: dir + "/missing/x.npy") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func topScoresAreSortedWithStableTies() {
        let logits = Tensor(shape: [4], values: [1, 3, 3, -1])
        let p = Scores.top(3, logits: logits, labels: ["a", "b", "c", "d"], multiLabel: false)
        #expect(p.map(\.index) == [1, 2, 0])
        #expect(abs(p.map(\.score).reduce(0, +) - (1 - Scores.top(4, logits: logits, labels: [], multiLabel: false)[3].score)) < 1e-6)
        let sig = Scores.top(1, logits: logits, labels: [], multiLabel: true)
        #expect(abs(sig[0].score - 1 / (1 + exp(-3))) < 1e-6 && sig[0].label == "LABEL_1")
    }
}
