import Foundation
import MMAttn
import MMAttnHub

/// Items done, a rate and an estimate, redrawn on one stderr line when stderr is a terminal; the
/// last line shows the final count and the file being written.
final class ProgressBar {
    let enabled: Bool
    /// What is counted ("records", "lines").
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    var last: (count: Int, amount: Int, rateUnit: String)?
    /// Items an interrupted run had done before this one resumed it, and the fraction they were.
    var resumed = (count: 0, fraction: 0.0)

    init(enabled: Bool, unit: String = "records") {
        self.enabled = enabled && isatty(2) != 0
        self.unit = unit
    }

    func update(_ p: ProteinProgress) {
        resumed = (p.skipped, p.skippedFraction)
        update(count: p.records, amount: p.residues, rateUnit: "residues", fraction: p.fraction)
    }

    /// `count` items (the resumed ones included) and `amount` of `rateUnit` done by this run;
    /// `fraction` of the whole when known. The rate and the time left count this run's work only.
    func update(count: Int, amount: Int, rateUnit: String, fraction: Double?) {
        last = (count, amount, rateUnit)
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        draw(tail: fraction.flatMap { f in
            guard f > resumed.fraction else { return nil }
            let elapsed = max(Date().timeIntervalSince(start), 1e-3)
            return String(format: "%3.0f%%, ETA %.0f s", 100 * min(f, 1), elapsed * max(1 - f, 0) / (f - resumed.fraction))
        })
    }

    /// Redraw the final counts, say which file is being written, and end the line.
    func finish(writing output: String) {
        guard enabled, last != nil else { return }
        draw(tail: "writing \(output)")
        Stderr.write("\n")
    }

    private func draw(tail: String?) {
        guard let last else { return }
        let elapsed = max(Date().timeIntervalSince(start), 1e-3)
        var line = String(format: "\r%d %@", last.count, unit)
        if resumed.count > 0 { line += " (\(resumed.count) resumed)" }
        line += String(format: ", %.0f %@/s, %.0f s", Double(last.amount) / elapsed, last.rateUnit, elapsed)
        if let tail { line += ", " + tail }
        Stderr.write(line + "\u{1B}[K")  // erase what a longer previous line left
    }
}

/// A download's progress on one stderr line when stderr is a terminal: file (and its place among
/// the files), bytes of total, percentage, rate and time left. Fed from the download's thread.
final class ByteProgressBar: @unchecked Sendable {
    // @unchecked: `update` is called from one download thread at a time, while the thread that
    // owns the bar waits for the download; `finish` runs after it returns.
    private let enabled = isatty(2) != 0
    private var file = ""
    private var fileStart = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    func update(_ p: DownloadProgress) {
        guard enabled else { return }
        let now = Date()
        if p.file != file { file = p.file; fileStart = now }
        let complete = p.total.map { p.bytes >= $0 } ?? false
        guard complete || now.timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(fileStart), 1e-3)
        let rate = Double(p.bytes) / elapsed
        var line = "\r[\(p.fileIndex)/\(p.fileCount)] \(p.file)  \(Self.size(p.bytes))"
        if let total = p.total, total > 0 {
            line += " / \(Self.size(total))  " + String(format: "%3.0f%%", 100 * Double(p.bytes) / Double(total))
            line += "  \(Self.size(Int64(rate)))/s"
            if !complete, rate > 0 { line += String(format: "  ETA %.0f s", Double(total - p.bytes) / rate) }
        } else {
            line += "  \(Self.size(Int64(rate)))/s"
        }
        Stderr.write(line + "\u{1B}[K")
        drawn = true
    }

    /// End the line if anything was drawn.
    func finish() {
        if drawn { Stderr.write("\n") }
        drawn = false
    }

    /// 512 B, 12.3 kB, 4.5 MB, 1.2 GB (decimal units, as download sizes are usually given).
    static func size(_ bytes: Int64) -> String {
        let b = Double(bytes)
        if b < 1000 { return "\(bytes) B" }
        for (unit, scale) in [("kB", 1e3), ("MB", 1e6), ("GB", 1e9)] where b < scale * 1000 {
            return String(format: "%.1f %@", b / scale, unit)
        }
        return String(format: "%.1f TB", b / 1e12)
    }
}
