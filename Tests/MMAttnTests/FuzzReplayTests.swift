import Foundation
import MMAttnFuzz
import Testing

/// The fuzz targets' inputs replayed in the normal suite: each target's corpus (`Fuzz/corpus`,
/// what scripts/fuzz.sh kept) and its regression inputs (`Tests/FuzzRegressions`, one per finding,
/// named in that folder's README with its fix). A replay that crashes fails the suite; a thrown
/// error is the readers' answer to bad input.
@Suite("Fuzz corpora replay")
struct FuzzReplayTests {
    static let regressions = Paths.repo.appendingPathComponent("Tests/FuzzRegressions").path
    static let corpora = Paths.repo.appendingPathComponent("Fuzz/corpus").path

    static func files(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted().map { folder + "/" + $0 }
    }

    @Test("corpus and regression inputs replay without a crash", arguments: FuzzTarget.all.map(\.name))
    func replay(name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        defer { target.finish() }
        let inputs = Self.files(Self.corpora + "/" + name) + Self.files(Self.regressions + "/" + name)
        for file in inputs {
            try target.run(try Data(contentsOf: URL(fileURLWithPath: file)))
        }
        #expect(!inputs.isEmpty, "Fuzz/corpus/\(name) is empty")
    }

    @Test("every regression input belongs to a target")
    func regressionFolders() {
        let names = Set(FuzzTarget.all.map(\.name))
        for folder in Self.files(Self.regressions) where !folder.hasSuffix("README.md") {
            #expect(names.contains((folder as NSString).lastPathComponent), "\(folder) names no fuzz target")
        }
    }
}
