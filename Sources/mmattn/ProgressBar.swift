import Foundation
import MMAttn

/// Items done, a rate and an estimate, redrawn on one stderr line when stderr is a terminal; the
/// last line shows the final count and the file being written.
final class ProgressBar {
    let enabled: Bool
    /// What is counted ("records", "lines").
    let unit: String
    let start = Date()
    var lastDraw = Date.distantPast
    var last: (count: Int, amount: Int, rateUnit: String)?

    init(enabled: Bool, unit: String = "records") {
        self.enabled = enabled && isatty(2) != 0
        self.unit = unit
    }

    func update(_ p: ProteinProgress) {
        update(count: p.records, amount: p.residues, rateUnit: "residues", fraction: p.fraction)
    }

    /// `count` items and `amount` of `rateUnit` done; `fraction` of the whole when known.
    func update(count: Int, amount: Int, rateUnit: String, fraction: Double?) {
        last = (count, amount, rateUnit)
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        draw(tail: fraction.flatMap { f in
            guard f > 0 else { return nil }
            let elapsed = max(Date().timeIntervalSince(start), 1e-3)
            return String(format: "%3.0f%%, ETA %.0f s", 100 * min(f, 1), elapsed * max(1 - f, 0) / f)
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
        var line = String(format: "\r%d %@, %.0f %@/s, %.0f s", last.count, unit, Double(last.amount) / elapsed, last.rateUnit, elapsed)
        if let tail { line += ", " + tail }
        Stderr.write(line + "\u{1B}[K")  // erase what a longer previous line left
    }
}
