/// fair-esm's token-budget batching (`FastaBatchedDataset.get_batch_indices`, as `esm-extract` uses it).
public enum ESMBatchPlanner {
    /// Groups sequences into batches: sequences are taken shortest first (ties in input order), each counting
    /// `length + extraToksPerSeq` tokens, and a batch is closed before a sequence that would make
    /// `longest × count` exceed `toksPerBatch`. A sequence longer than the budget gets a batch of its own.
    /// Returns indices into `lengths`, batches in order of increasing length.
    public static func batchIndices(lengths: [Int], toksPerBatch: Int, extraToksPerSeq: Int = 1) -> [[Int]] {
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        var batches: [[Int]] = []
        var batch: [Int] = []
        var longest = 0
        for i in order {
            let size = lengths[i] + extraToksPerSeq
            let (product, overflow) = max(size, longest).multipliedReportingOverflow(by: batch.count + 1)
            if !batch.isEmpty && (overflow || product > toksPerBatch) {
                batches.append(batch)
                batch = []
                longest = 0
            }
            longest = max(longest, size)
            batch.append(i)
        }
        if !batch.isEmpty { batches.append(batch) }
        return batches
    }
}

/// How `ProteinBatcher` groups records.
public struct ProteinBatchOptions: Sendable {
    /// Token budget of a batch, `esm-extract --toks_per_batch` (padding counted).
    public var toksPerBatch = 4096
    /// Residues kept per record, `esm-extract --truncation_seq_length`; nil keeps all.
    public var truncationSeqLength: Int? = 1022
    /// A window (the records planned together) ends after this many records...
    public var windowRecords = 10_000
    /// ...or once it holds this many residues, so memory stays bounded on huge files.
    public var windowResidues = 1 << 23

    public init(toksPerBatch: Int = 4096, truncationSeqLength: Int? = 1022,
                windowRecords: Int = 10_000, windowResidues: Int = 1 << 23) {
        self.toksPerBatch = toksPerBatch
        self.truncationSeqLength = truncationSeqLength
        self.windowRecords = windowRecords
        self.windowResidues = windowResidues
    }
}

/// Consecutive records of a FASTA file, in file order, with their batch plan.
public struct ProteinWindow: Sendable {
    /// Position in the file (0-based) of `records[0]`; windows follow each other without gaps.
    public let firstIndex: Int
    /// The records, in file order (sequences untruncated).
    public let records: [FastaRecord]
    /// Positions in `records` of each batch, in the order fair-esm's planner gives them (shortest first).
    /// Every position appears in exactly one batch.
    public let batches: [[Int]]
    /// Residues kept per record (nil: all).
    public let truncationSeqLength: Int?
    /// The alphabet that tokenizes the records.
    public let alphabet: ESMAlphabet

    /// Residues of record `i` that go to the model (after truncation).
    public func residueCount(_ i: Int) -> Int {
        let n = records[i].sequence.utf8.count
        return truncationSeqLength.map { min($0, n) } ?? n
    }

    /// The padded token matrix of batch `b`, as fair-esm's `BatchConverter` builds it.
    public func tokens(forBatch b: Int) -> ProteinTokenBatch {
        let members = batches[b]
        let encoded = members.map { alphabet.encode(records[$0].sequence, maxResidues: truncationSeqLength) }
        let width = encoded.map(\.count).max() ?? 2
        var ids = [Int32](repeating: Int32(alphabet.padId), count: members.count * width)
        for (row, tokens) in encoded.enumerated() {
            ids.replaceSubrange((row * width)..<(row * width + tokens.count), with: tokens)
        }
        return ProteinTokenBatch(members: members, ids: ids, rows: members.count, width: width,
                                 residueCounts: encoded.map { $0.count - 2 })
    }
}

/// One batch ready for an ESM model.
public struct ProteinTokenBatch: Sendable {
    /// The position in the window's `records` of each row.
    public let members: [Int]
    /// Token ids, [rows, width] row-major: `<cls>`, the residues, `<eos>`, then `<pad>` up to `width`.
    public let ids: [Int32]
    /// Number of sequences.
    public let rows: Int
    /// Tokens per row: the longest row's residues + 2.
    public let width: Int
    /// Residues of each row (its tokens are `residueCounts[r] + 2`, the rest is padding).
    public let residueCounts: [Int]
}

/// Reads a FASTA file window by window and plans each window's batches as `esm-extract` does.
///
/// A file that fits in one window gets exactly fair-esm's plan. To write outputs in file order, run a
/// window's batches, put each row's result at `window.firstIndex + members[row]`, and emit the window's
/// results in order once all its batches are done; then read the next window.
public final class ProteinBatcher {
    /// The source of records.
    public let reader: FastaReader
    /// The tokenizer.
    public let alphabet: ESMAlphabet
    /// Batching parameters.
    public let options: ProteinBatchOptions
    /// Records cut to the truncation length so far, and the first of them (for one summary
    /// warning at the end of a run instead of a line per record).
    public private(set) var truncatedRecords = 0
    public private(set) var firstTruncated: (id: String, line: Int, offset: Int64, residues: Int)?

    private var nextIndex = 0

    /// Throws if an option is out of range.
    public init(reader: FastaReader, alphabet: ESMAlphabet, options: ProteinBatchOptions = ProteinBatchOptions()) throws {
        guard options.toksPerBatch >= 1 else {
            throw MMAttnError("the token budget per batch must be at least 1, got \(options.toksPerBatch)")
        }
        if let t = options.truncationSeqLength, t < 1 {
            throw MMAttnError("the truncation length must be at least 1 residue, got \(t)")
        }
        guard options.windowRecords >= 1, options.windowResidues >= 1 else {
            throw MMAttnError("a batching window must allow at least one record and one residue")
        }
        self.reader = reader
        self.alphabet = alphabet
        self.options = options
    }

    /// One line about the records cut so far ("3 records have more than 1022 residues ..."), or nil.
    public var truncationSummary: String? {
        guard truncatedRecords > 0, let first = firstTruncated, let limit = options.truncationSeqLength else { return nil }
        let which = truncatedRecords == 1
            ? "record '\(first.id)' (\(reader.location(line: first.line, offset: first.offset))) has \(first.residues) residues"
            : "\(truncatedRecords) records have more than \(limit) residues (the first: '\(first.id)', \(reader.location(line: first.line, offset: first.offset)), \(first.residues) residues)"
        return "\(reader.path): \(which); only the first \(limit) of each were used (the truncation length)"
    }

    /// The next window of records with its batch plan, or nil after the last record.
    public func nextWindow() throws -> ProteinWindow? {
        var records: [FastaRecord] = []
        var residues = 0
        while records.count < options.windowRecords && residues < options.windowResidues,
              let record = try reader.next() {
            let length = record.sequence.utf8.count
            if let limit = options.truncationSeqLength, length > limit {
                truncatedRecords += 1
                if firstTruncated == nil { firstTruncated = (record.id, record.line, record.offset, length) }
            }
            residues += length
            records.append(record)
        }
        if records.isEmpty { return nil }
        let batches = ESMBatchPlanner.batchIndices(lengths: records.map { $0.sequence.utf8.count },
                                                   toksPerBatch: options.toksPerBatch, extraToksPerSeq: 1)
        let window = ProteinWindow(firstIndex: nextIndex, records: records, batches: batches,
                                   truncationSeqLength: options.truncationSeqLength, alphabet: alphabet)
        nextIndex += records.count
        return window
    }
}
