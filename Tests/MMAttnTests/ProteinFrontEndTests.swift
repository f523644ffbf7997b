import Foundation
import Testing
@testable import MMAttn

/// FASTA reader, ESM-2 tokenizer and esm-extract batch planner. Expectations are exact: token ids and
/// batch plans from transformers' EsmTokenizer and fair-esm (Fixtures/gen_protein.py), error outcomes from
/// the shared bad-input corpus and hand-made files.
@Suite struct ProteinFrontEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Fixtures").path
    static let luxc = fixtures + "/protein/LuxC.faa"
    static let vocab = fixtures + "/protein/vocab.txt"
    static let badInputs = (Paths.badInputs ?? "/nonexistent") + "/fasta"

    // MARK: helpers

    /// A temporary file holding `bytes`, removed when the returned object is released.
    final class TempFile {
        let path: String
        init(_ bytes: [UInt8], name: String = "test.fasta") throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mmattn-protein-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            path = dir.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
        convenience init(_ text: String, name: String = "test.fasta") throws { try self.init(Array(text.utf8), name: name) }
        deinit { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    }

    /// All records of `path`, read through a buffer of `bufferSize` bytes; warnings collected.
    static func readAll(_ path: String, alphabet: ESMAlphabet? = .esm2, bufferSize: Int = 1 << 20,
                        maxResidues: Int = FastaReader.defaultMaxResidues) throws -> (records: [FastaRecord], warnings: [String]) {
        let reader = try FastaReader(path: path, alphabet: alphabet, maxResidues: maxResidues, bufferSize: bufferSize)
        var records: [FastaRecord] = []
        while let r = try reader.next() { records.append(r) }
        return (records, reader.stopCodonSummary.map { [$0] } ?? [])
    }

    /// The error message reading `text` gives (nil if it parses).
    static func errorMessage(_ text: String, alphabet: ESMAlphabet? = .esm2, bufferSize: Int = 1 << 20,
                             maxResidues: Int = FastaReader.defaultMaxResidues) throws -> String? {
        let file = try TempFile(text)
        do {
            _ = try readAll(file.path, alphabet: alphabet, bufferSize: bufferSize, maxResidues: maxResidues)
            return nil
        } catch let error as MMAttnError {
            #expect(error.file == file.path)
            return error.message
        }
    }

    static func reference() throws -> JSONObject {
        try #require(JSON.load(contentsOf: fixtures + "/reference/protein/luxc_reference.json").object)
    }

    static func ints(_ json: JSON?) throws -> [Int] {
        try #require(json?.array).map { try #require($0.int) }
    }

    // MARK: alphabet and tokenizer

    @Test func vocabFileMatchesBuiltInAlphabet() throws {
        let alphabet = try ESMAlphabet(vocabFile: Self.vocab)
        let reference = try Self.reference()
        let tokens = try #require(reference["vocab"]?.array).map { try #require($0.string) }
        #expect(alphabet.tokens == tokens)
        #expect(ESMAlphabet.esm2.tokens == tokens)
        let special = try #require(reference["special_ids"]?.object)
        #expect(alphabet.clsId == special["cls"]?.int)
        #expect(alphabet.padId == special["pad"]?.int)
        #expect(alphabet.eosId == special["eos"]?.int)
        #expect(alphabet.unkId == special["unk"]?.int)
        #expect(alphabet.maskId == special["mask"]?.int)
        #expect(alphabet.contains("L") && alphabet.contains("-") && alphabet.contains("O"))
        #expect(!alphabet.contains("J") && !alphabet.contains("l") && !alphabet.contains("*"))
        #expect(alphabet.id(of: "<null_1>") == 31)
    }

    @Test func luxcTokenIdsMatchEsmTokenizer() throws {
        let reference = try Self.reference()
        let expected = try #require(reference["records"]?.array)
        let (records, warnings) = try Self.readAll(Self.luxc)
        #expect(warnings.isEmpty)
        #expect(records.count == expected.count)
        for (record, ref) in zip(records, expected) {
            let fields = try #require(ref.object)
            #expect(record.id == fields["id"]?.string)
            #expect(record.sequence.count == fields["length"]?.int)
            #expect(ESMAlphabet.esm2.encode(record.sequence).map(Int.init) == (try Self.ints(fields["input_ids"])))
        }
        #expect(records[0].description.hasPrefix("Long-chain acyl-protein thioester reductase OS=Photobacterium"))
        let lines = try String(contentsOfFile: Self.luxc, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(records.map(\.line) == lines.indices.filter { lines[$0].hasPrefix(">") }.map { $0 + 1 })
    }

    @Test func encodeEdgeCasesMatchEsmTokenizer() throws {
        let alphabet = try ESMAlphabet(vocabFile: Self.vocab)
        for case_ in try #require(Self.reference()["encode_cases"]?.array) {
            let fields = try #require(case_.object)
            let text = try #require(fields["text"]?.string)
            #expect(alphabet.encode(text).map(Int.init) == (try Self.ints(fields["input_ids"])), "\(text.debugDescription)")
        }
    }

    @Test func encodeTruncates() {
        let a = ESMAlphabet.esm2
        #expect(a.encode("LAGVS", maxResidues: 2) == [0, 4, 5, 2])
        #expect(a.encode("LA<mask>GV", maxResidues: 3) == [0, 4, 5, 32, 2])
        #expect(a.encode("LAG", maxResidues: 10) == [0, 4, 5, 6, 2])
    }

    @Test func vocabValidation() throws {
        func message(_ text: String) throws -> String? {
            let file = try TempFile(text, name: "vocab.txt")
            do { _ = try ESMAlphabet(vocabFile: file.path); return nil } catch let e as MMAttnError { return e.message }
        }
        let good = ESMAlphabet.esm2Tokens.joined(separator: "\n")
        #expect(try message(good) == nil)
        #expect(try message(good + "\n") == nil)
        let crlf = try TempFile(ESMAlphabet.esm2Tokens.joined(separator: "\r\n") + "\r\n", name: "vocab.txt")
        #expect(try ESMAlphabet(vocabFile: crlf.path).tokens == ESMAlphabet.esm2Tokens)
        #expect(try message("")?.contains("empty") == true)
        #expect(try message(good + "\nA")?.contains("appears twice") == true)
        #expect(try message(good.replacingOccurrences(of: "<mask>", with: "<MASK>"))?.contains("<mask>") == true)
        #expect(try message(good.replacingOccurrences(of: "<unk>\n", with: ""))?.contains("<unk>") == true)
        #expect(try message(good.replacingOccurrences(of: "\nL\n", with: "\n\nL\n"))?.contains("line 5 is empty") == true)
        #expect(try message("<cls>\n<pad>\n<eos>\n<unk>\n<mask>\nA B")?.contains("single words") == true)
        let binary = try TempFile([0x3C, 0x63, 0xFF, 0xFE, 0x0A], name: "vocab.txt")
        #expect(throws: MMAttnError.self) { try ESMAlphabet(vocabFile: binary.path) }
        #expect(throws: MMAttnError.self) { try ESMAlphabet(vocabFile: "/nonexistent/vocab.txt") }
    }

    @Test func modelFolderFallsBackToStandardAlphabet() throws {
        let file = try TempFile("x", name: "config.json")
        let folder = (file.path as NSString).deletingLastPathComponent
        var warnings: [String] = []
        let alphabet = try ESMAlphabet.forModel(folder: folder) { warnings.append($0) }
        #expect(alphabet.tokens == ESMAlphabet.esm2Tokens)
        #expect(warnings.count == 1 && warnings[0].contains("vocab.txt"))
        let fixtureAlphabet = try ESMAlphabet.forModel(folder: Self.fixtures + "/protein") { warnings.append($0) }
        #expect(fixtureAlphabet.tokens == ESMAlphabet.esm2Tokens && warnings.count == 1)
    }

    // MARK: FASTA reader

    @Test func parsesMultilineCrlfLowercaseAndDescriptions() throws {
        let text = ">sp|P1|A first  protein \r\nmkt\r\n\r\nLAG V\r\n>p2\r\n\r\nXBUZO.-\r\n"
        let file = try TempFile(text)
        let (records, warnings) = try Self.readAll(file.path)
        #expect(warnings.isEmpty)
        #expect(records == [
            FastaRecord(id: "sp|P1|A", description: "first  protein", sequence: "MKTLAGV", line: 1),
            FastaRecord(id: "p2", description: "", sequence: "XBUZO.-", line: 5, offset: 40),
        ])
    }

    @Test func everyBufferSizeGivesTheSameRecords() throws {
        let text = "\u{FEFF}\n>a desc ü\r\nMKTAYIAKQR\r\nqisfvk*\r\n>b\nLLLL\n\n>c  spaced\tid\n A G \nVS*"
        let file = try TempFile(text)
        let expected = [
            FastaRecord(id: "a", description: "desc ü", sequence: "MKTAYIAKQRQISFVK", line: 2, offset: 4),
            FastaRecord(id: "b", description: "", sequence: "LLLL", line: 5, offset: 37),
            FastaRecord(id: "c", description: "spaced\tid", sequence: "AGVS", line: 8, offset: 46),
        ]
        for size in [16, 17, 19, 23, 64, 1 << 20] {
            let (records, warnings) = try Self.readAll(file.path, bufferSize: size)
            #expect(records == expected, "buffer \(size)")
            // One summary line for both stop codons, naming the first.
            #expect(warnings.count == 1 && warnings[0].contains("2 records"), "buffer \(size)")
            #expect(warnings.first?.contains("'a'") == true && warnings.first?.contains("line 4") == true)
        }
    }

    @Test func errorsNameLineColumnAndRecord() throws {
        for size in [16, 1 << 20] {
            let invalid = try #require(try Self.errorMessage(">x\nMKV\n>mixed\nMKTJAYiakq\n", bufferSize: size))
            #expect(invalid.contains("line 4, column 4") && invalid.contains("'J'") && invalid.contains("record 'mixed'"))
            let lower = try #require(try Self.errorMessage(">m\nMKTAj\n", bufferSize: size))
            #expect(lower.contains("line 2, column 5") && lower.contains("'j'"))
            let stop = try #require(try Self.errorMessage(">s\nMKT*\nAAA\n", bufferSize: size))
            #expect(stop.contains("line 2, column 4") && stop.contains("record 's'") && stop.contains("'*'"))
            let nul = try #require(try Self.errorMessage(">n\nMKTAAAAAAAAAAAAAAAAAAAAAAAAA\u{0}AAA\n", bufferSize: size))
            #expect(nul.contains("NUL") && nul.contains("line 2"))
            let bareCR = try #require(try Self.errorMessage(">c\nMK\rTA\n", bufferSize: size))
            #expect(bareCR.contains("carriage return") && bareCR.contains("line 2, column 3"))
            let utf8 = try #require(try Self.errorMessage(">u\nMKé\n", bufferSize: size))
            #expect(utf8.contains("'é'") && utf8.contains("line 2, column 3"))
        }
        #expect(try Self.errorMessage("\n\nMKV\n>a\nMKV\n")?.contains("line 3: sequence data before the first header") == true)
        #expect(try Self.errorMessage(">\nMKV\n")?.contains("line 1: the header has no id") == true)
        #expect(try Self.errorMessage(">  \t \nMKV\n")?.contains("no id") == true)
        #expect(try Self.errorMessage(">a\nMKV\n>b x\n\n>c\nAA\n")?.contains("line 3: record 'b' has no residues") == true)
        #expect(try Self.errorMessage(">a\nMKV\n>b\n")?.contains("record 'b' has no residues") == true)
        let dup = try #require(try Self.errorMessage(">a\nMKV\n>b\nAA\n>a copy\nMKV\n"))
        #expect(dup.contains("line 5") && dup.contains("'a'") && dup.contains("line 1"))
        #expect(try Self.errorMessage("")?.contains("empty") == true)
        #expect(try Self.errorMessage("\n\r\n\n")?.contains("no FASTA records") == true)
        #expect(try Self.errorMessage(">a\nMK**\n")?.contains("second '*'") == true)
        #expect(try Self.errorMessage(">a\u{1}b\nMK\n")?.contains("control character") == true)
        #expect(try Self.errorMessage(">a\nMK1\n")?.contains("'1' is not a residue") == true)
        #expect(try Self.errorMessage(">a\nMK>B\n")?.contains("'>' is not a residue") == true)
    }

    @Test func alphabetChoosesResidues() throws {
        // Without an alphabet every letter is a residue; with ESM-2's, J is not.
        #expect(try Self.errorMessage(">a\nMKJ\n", alphabet: nil) == nil)
        #expect(try Self.errorMessage(">a\nMK#\n", alphabet: nil)?.contains("letters, '.' and '-'") == true)
        let tiny = try ESMAlphabet(tokens: ["<cls>", "<pad>", "<eos>", "<unk>", "<mask>", "A", "C"], source: "test")
        #expect(try Self.errorMessage(">a\nacAC\n", alphabet: tiny) == nil)
        #expect(try Self.errorMessage(">a\nACG\n", alphabet: tiny)?.contains("'G' is not a residue") == true)
    }

    @Test func boundsRecordAndHeaderLength() throws {
        let long = ">big\n" + String(repeating: "ACDEFGHIKL\n", count: 20)
        #expect(try Self.errorMessage(long, maxResidues: 200) == nil)
        let message = try #require(try Self.errorMessage(long, bufferSize: 32, maxResidues: 199))
        #expect(message.contains("longer than 199 residues") && message.contains("record 'big'"))
        let header = ">" + String(repeating: "h", count: FastaReader.maxHeaderBytes + 1) + "\nMK\n"
        #expect(try Self.errorMessage(header)?.contains("header is longer") == true)
    }

    @Test func binaryFilesAreRejectedAsNotText() throws {
        var bytes: [UInt8] = Array(">a\nMKV\n".utf8)
        bytes += [0x92, 0xFF, 0x00, 0x13]
        let file = try TempFile(bytes)
        let error = try #require(throws: MMAttnError.self) { try Self.readAll(file.path) }
        #expect(error.message.contains("not a text file"))
        // Invalid UTF-8 after the first buffer is still rejected, naming the line.
        let later = try TempFile(Array((">a\n" + String(repeating: "A", count: 100) + "\n").utf8) + [0xC3, 0x28, 0x0A])
        let laterError = try #require(throws: MMAttnError.self) { try Self.readAll(later.path, bufferSize: 16) }
        #expect(laterError.message.contains("line 3, column 1") && laterError.message.contains("0xC3"))
        let invalidHeader = try TempFile(Array(">a\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n>b".utf8) + [0xE2, 0x82] + Array(" x\nAA\n".utf8))
        let headerError = try #require(throws: MMAttnError.self) { try Self.readAll(invalidHeader.path, bufferSize: 16) }
        #expect(headerError.message.contains("line 3, column 3") && headerError.message.contains("0xE2"))
    }

    @Test func errorIsSticky() throws {
        let file = try TempFile(">a\nMK\n>a\nMK\n>c\nMK\n")
        let reader = try FastaReader(path: file.path, alphabet: .esm2)
        #expect(try reader.next()?.id == "a")
        #expect(throws: MMAttnError.self) { try reader.next() }
        #expect(throws: MMAttnError.self) { try reader.next() }
    }

    @Test func unreadablePathsAreErrors() throws {
        #expect(throws: MMAttnError.self) { try FastaReader(path: "/nonexistent/x.fasta", alphabet: nil) }
        #expect(throws: MMAttnError.self) { try FastaReader(path: Self.fixtures, alphabet: nil) }
    }

    @Test func manyIdsStayUniqueThroughHashing() throws {
        var text = ""
        for i in 0..<5000 { text += ">r\(i) d\nMK\n" }
        let file = try TempFile(text + ">r4321\nAA\n")
        let error = try #require(throws: MMAttnError.self) { try Self.readAll(file.path) }
        #expect(error.message.contains("'r4321'") && error.message.contains("line 8643"))
        let unique = try TempFile(text)
        #expect(try Self.readAll(unique.path).records.count == 5000)
    }

    /// The shared corpus: `valid_*` parse, `either_*` never crash, the rest are rejected with `MMAttnError`.
    @Test(.needsBadInputs) func badInputsCorpus() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.badInputs)
        let fastas = names.filter { $0.hasSuffix(".fasta") }.sorted()
        #expect(!fastas.isEmpty)
        for name in fastas {
            let path = Self.badInputs + "/" + name
            let outcome: Result<[FastaRecord], MMAttnError>
            do { outcome = .success(try Self.readAll(path).records) } catch let e as MMAttnError { outcome = .failure(e) }
            if name.hasPrefix("valid_") {
                let records = try outcome.get()
                #expect(!records.isEmpty, "\(name)")
            } else if !name.hasPrefix("either_") {
                guard case .failure(let error) = outcome else { Issue.record("\(name) was accepted"); continue }
                #expect(error.file == path && !error.message.isEmpty, "\(name)")
            }
        }
        let mixed = try #require(throws: MMAttnError.self) { try Self.readAll(Self.badInputs + "/invalid_letter_J_lowercase_mix.fasta") }
        #expect(mixed.message.contains("line 2, column 4") && mixed.message.contains("'J'"))
        let lower = try Self.readAll(Self.badInputs + "/either_lowercase_only.fasta").records
        #expect(lower.first?.sequence.hasPrefix("MQIFVKTLTGK") == true)
        let stop = try Self.readAll(Self.badInputs + "/either_trailing_stop_codon.fasta")
        #expect(stop.records.first?.sequence.hasSuffix("RLRGG") == true && stop.warnings.count == 1)
        let crlf = try Self.readAll(Self.badInputs + "/valid_crlf_line_endings.fasta").records
        #expect(crlf.map(\.id) == ["sp|P69905|HBA_HUMAN", "ubiquitin"] && crlf[1].sequence.count == 76)
        let multi = try Self.readAll(Self.badInputs + "/valid_multiline_two_records.fasta").records
        #expect(multi.map(\.description) == ["Hemoglobin subunit alpha OS=Homo sapiens", "Ubiquitin"])
        #expect(multi[0].sequence.count == 142)
    }

    // MARK: batching

    @Test func batchPlansMatchFairEsm() throws {
        let reference = try Self.reference()
        let (records, _) = try Self.readAll(Self.luxc)
        for plan in try #require(reference["batch_plans"]?.array) {
            let fields = try #require(plan.object)
            let budget = try #require(fields["toks_per_batch"]?.int)
            let expected = try #require(fields["batches"]?.array).map { try Self.ints($0) }
            let lengths = records.map(\.sequence.count)
            #expect(ESMBatchPlanner.batchIndices(lengths: lengths, toksPerBatch: budget) == expected, "budget \(budget)")

            let batcher = try ProteinBatcher(reader: FastaReader(path: Self.luxc, alphabet: .esm2), alphabet: .esm2,
                                             options: ProteinBatchOptions(toksPerBatch: budget))
            let window = try #require(try batcher.nextWindow())
            #expect(window.firstIndex == 0 && window.records == records && window.batches == expected)
            #expect(try batcher.nextWindow() == nil)
        }
    }

    @Test func paddedBatchesMatchFairEsmBatchConverter() throws {
        let padded = try #require(Self.reference()["padded_batches"]?.object)
        let budget = try #require(padded["toks_per_batch"]?.int)
        let truncation = try #require(padded["truncation_seq_length"]?.int)
        let batcher = try ProteinBatcher(reader: FastaReader(path: Self.luxc, alphabet: .esm2), alphabet: .esm2,
                                         options: ProteinBatchOptions(toksPerBatch: budget, truncationSeqLength: truncation))
        let window = try #require(try batcher.nextWindow())
        // One summary line for the 12 cut records, naming the first.
        let summary = try #require(batcher.truncationSummary)
        #expect(batcher.truncatedRecords == 12 && summary.contains("12 records") && summary.contains("sp|P19841|LUXC_PHOPO") && summary.contains("488"))
        let expected = try #require(padded["batches"]?.array)
        #expect(window.batches.count == expected.count)
        for (b, ref) in expected.enumerated() {
            let fields = try #require(ref.object)
            let rows = try #require(fields["tokens"]?.array).map { try Self.ints($0) }
            let batch = window.tokens(forBatch: b)
            #expect(batch.members == (try Self.ints(fields["members"])))
            #expect(batch.rows == rows.count && batch.width == rows[0].count)
            #expect(batch.ids.map(Int.init) == rows.flatMap { $0 })
            #expect(batch.residueCounts == Array(repeating: truncation, count: rows.count))
            #expect(batch.members.map(window.residueCount) == batch.residueCounts)
        }
    }

    @Test func plannerEdgeCases() {
        #expect(ESMBatchPlanner.batchIndices(lengths: [], toksPerBatch: 10).isEmpty)
        // A sequence longer than the budget gets its own batch; ties keep input order.
        #expect(ESMBatchPlanner.batchIndices(lengths: [50, 3, 3, 3], toksPerBatch: 10) == [[1, 2], [3], [0]])
        #expect(ESMBatchPlanner.batchIndices(lengths: [4, 4], toksPerBatch: 10, extraToksPerSeq: 0) == [[0, 1]])
        #expect(ESMBatchPlanner.batchIndices(lengths: [Int.max / 2, Int.max / 2], toksPerBatch: 10, extraToksPerSeq: 0)
                == [[0], [1]])
    }

    /// The corpus's generated `either_100k_residues.fasta` case: accepted, truncated to the model window.
    @Test func longRecordIsTruncatedWithAWarning() throws {
        let ubq = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
        let sequence = String(String(repeating: ubq, count: 100_000 / ubq.count + 1).prefix(100_000))
        var text = ">long100k\n"
        var rest = Substring(sequence)
        while !rest.isEmpty { text += rest.prefix(60) + "\n"; rest = rest.dropFirst(60) }
        let file = try TempFile(text)
        let batcher = try ProteinBatcher(reader: FastaReader(path: file.path, alphabet: .esm2), alphabet: .esm2)
        let window = try #require(try batcher.nextWindow())
        #expect(window.records[0].sequence == sequence)
        let summary = try #require(batcher.truncationSummary)
        #expect(batcher.truncatedRecords == 1 && summary.contains("'long100k'") && summary.contains("100000 residues"))
        let batch = window.tokens(forBatch: 0)
        #expect(batch.rows == 1 && batch.width == 1024 && batch.residueCounts == [1022])
        #expect(batch.ids == ESMAlphabet.esm2.encode(String(sequence.prefix(1022))))
    }

    @Test func windowsCoverTheFileInOrder() throws {
        var text = ""
        var lengths: [Int] = []
        for i in 0..<23 {
            let n = 1 + (i * 37) % 29
            lengths.append(n)
            text += ">w\(i)\n" + String(repeating: "A", count: n) + "\n"
        }
        let file = try TempFile(text)
        for (records, residues) in [(5, 1_000_000), (1_000, 60), (1, 1)] {
            let batcher = try ProteinBatcher(reader: FastaReader(path: file.path, alphabet: .esm2), alphabet: .esm2,
                                             options: ProteinBatchOptions(toksPerBatch: 64, windowRecords: records,
                                                                          windowResidues: residues))
            var restored: [String?] = Array(repeating: nil, count: 23)
            var next = 0
            while let window = try batcher.nextWindow() {
                #expect(window.firstIndex == next)
                #expect(window.records.count <= records)
                let windowLengths = window.records.map(\.sequence.count)
                #expect(window.batches == ESMBatchPlanner.batchIndices(lengths: windowLengths, toksPerBatch: 64))
                #expect(window.batches.flatMap { $0 }.sorted() == Array(window.records.indices))
                for b in window.batches.indices {
                    let batch = window.tokens(forBatch: b)
                    for member in batch.members { restored[window.firstIndex + member] = window.records[member].id }
                }
                next += window.records.count
            }
            #expect(restored == (0..<23).map { "w\($0)" }, "window \(records) records / \(residues) residues")
        }
        #expect(throws: MMAttnError.self) {
            try ProteinBatcher(reader: FastaReader(path: file.path, alphabet: nil), alphabet: .esm2,
                               options: ProteinBatchOptions(toksPerBatch: 0))
        }
    }
}
