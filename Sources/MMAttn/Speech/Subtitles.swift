import Foundation

/// One subtitle: a span of seconds and its text.
public struct SubtitleCue: Sendable, Equatable {
    public var start: Double
    public var end: Double
    public var text: String

    public init(start: Double, end: Double, text: String) {
        self.start = start
        self.end = end
        self.text = text
    }
}

/// SRT and WebVTT files from timed segments, as openai-whisper's `WriteSRT` and `WriteVTT` write
/// them for segments (`utils.py`, without word-level options):
///
/// - times are rounded to whole milliseconds (`round(seconds * 1000)`, ties to even) and then
///   split into hours, minutes, seconds and milliseconds, so 59.9996 s becomes `00:01:00.000`;
/// - SRT: `HH:MM:SS,mmm` with hours always present (more than two digits past 99 h), cues
///   numbered from 1;
/// - WebVTT: a `WEBVTT` line, then `MM:SS.mmm`, with an `HH:` in front only from one hour on
///   (openai-whisper's choice; `alwaysIncludeHours` writes it always);
/// - each cue is `start --> end`, then the text stripped of surrounding whitespace (Python's
///   `str.strip`) with every `-->` replaced by `->`, then a blank line; the file ends with one.
///
/// faster-whisper has the same `format_timestamp` and no writers of its own. openai-whisper
/// refuses negative times; here they are written as zero.
public enum Subtitles {
    /// An SRT file's text.
    public static func srt(_ cues: [SubtitleCue]) -> String {
        var out = ""
        for (n, cue) in cues.enumerated() {
            out += "\(n + 1)\n\(timestamp(cue.start, alwaysIncludeHours: true, decimalMarker: ","))"
            out += " --> \(timestamp(cue.end, alwaysIncludeHours: true, decimalMarker: ","))\n\(text(cue.text))\n\n"
        }
        return out
    }

    /// A WebVTT file's text.
    public static func webVTT(_ cues: [SubtitleCue], alwaysIncludeHours: Bool = false) -> String {
        var out = "WEBVTT\n\n"
        for cue in cues {
            out += "\(timestamp(cue.start, alwaysIncludeHours: alwaysIncludeHours, decimalMarker: "."))"
            out += " --> \(timestamp(cue.end, alwaysIncludeHours: alwaysIncludeHours, decimalMarker: "."))\n\(text(cue.text))\n\n"
        }
        return out
    }

    /// openai-whisper's `format_timestamp`: `[HH:]MM:SS<marker>mmm`.
    public static func timestamp(_ seconds: Double, alwaysIncludeHours: Bool, decimalMarker: String) -> String {
        let scaled = (seconds * 1000).rounded(.toNearestOrEven)
        var ms = scaled.isFinite && scaled > 0 ? Int(min(scaled, 1e15)) : 0
        let hours = ms / 3_600_000
        ms -= hours * 3_600_000
        let minutes = ms / 60_000
        ms -= minutes * 60_000
        let secs = ms / 1000
        ms -= secs * 1000
        let h = alwaysIncludeHours || hours > 0 ? pad(hours, 2) + ":" : ""
        return h + pad(minutes, 2) + ":" + pad(secs, 2) + decimalMarker + pad(ms, 3)
    }

    /// A cue's text as the writers print it.
    static func text(_ s: String) -> String {
        let stripped = WhisperTranscript.pythonStrip(Array(s.unicodeScalars))
        return WhisperTranscript.string(Array(stripped)).replacingOccurrences(of: "-->", with: "->", options: .literal)
    }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
