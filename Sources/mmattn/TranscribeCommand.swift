import ArgumentParser
import Foundation
import MMAttn

/// What `transcribe` writes.
enum TranscriptFormat: String, ExpressibleByArgument, CaseIterable {
    case txt, srt, vtt, json
}

struct Transcribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Transcribe speech with a Whisper checkpoint (text, JSON segments and words, SRT or WebVTT subtitles).",
        usage: "mmattn transcribe <clip> ... [--model <model>] [--format <f>] [options]",
        discussion: """
        Greedy decoding as transformers' generate does it. Audio is mixed to mono
        and resampled (soxr, high quality) to 16 kHz. A clip of up to 30 s is one
        window: the text is what generate(input_features) gives. Longer audio is
        transcribed window by window (long-form: each next 30 s window starts at
        the last complete timestamp of the previous one), reading the file as it
        goes, so memory does not grow with its length.

        Plain text (the default) decodes without timestamp tokens, as generate
        does by default. --json, --format srt|vtt, --timestamps and
        --word-timestamps decode with timestamp tokens (return_timestamps=True),
        which gives segments with times; --word-timestamps adds each word's
        times from the cross-attention of the checkpoint's alignment heads
        (dynamic time warping, as transformers' pipeline with
        return_timestamps="word").

        Multilingual checkpoints detect the language from the first window unless
        --language gives it; --task translate translates into English.

        \(DefaultModel.help(DefaultModel.audio, DefaultModel.audioReason))

        Examples (from the repository root; Fixtures/models/whisper-gen is tiny
        and random, so its words mean nothing, but its windows, timestamps and
        words follow the real procedure):
          mmattn transcribe Fixtures/audio/arctic_a0007.wav \\
              --model Fixtures/models/whisper-gen
          mmattn transcribe Fixtures/audio/derived/speech-mix.flac \\
              --model Fixtures/models/whisper-gen --format srt
          mmattn transcribe Fixtures/audio/cards-001.wav clip.wav \\
              --model Fixtures/models/whisper-gen --json --word-timestamps
          mmattn transcribe clip.wav --model openai/whisper-tiny.en --timestamps
        """
    )

    @Argument(help: ArgumentHelp("Audio files.", valueName: "clip")) var clips: [String]
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var compute: ComputeOptions
    @Flag(help: "Print one JSON object (the same as --format json).") var json = false
    @Option(help: "txt (the text), json (segments and words), srt or vtt (subtitles: one cue per segment).")
    var format: TranscriptFormat?
    @Option(help: ArgumentHelp("Write here instead of stdout (one clip; for subtitles of several clips, a folder).", valueName: "file"))
    var output: String?
    @Flag(help: "Decode with timestamp tokens; the text output shows each segment's times.") var timestamps = false
    @Flag(help: "Add each word's start and end (JSON words; implies timestamps).") var wordTimestamps = false
    @Option(help: "Language of the speech for multilingual checkpoints, a code or a name (de, german); detected when left out.")
    var language: String?
    @Option(help: "transcribe (default) or translate (into English), for multilingual checkpoints.") var task: String?
    @Flag(help: "No progress line on stderr.") var quiet = false

    var chosenFormat: TranscriptFormat { json ? .json : format ?? .txt }

    func validate() throws {
        guard !clips.isEmpty else { throw ValidationError("give at least one audio file") }
        if json, let format, format != .json { throw ValidationError("--json and --format \(format.rawValue) disagree") }
        if let task, task != "transcribe" && task != "translate" { throw ValidationError("--task is transcribe or translate") }
        if clips.count > 1 && (chosenFormat == .srt || chosenFormat == .vtt) {
            guard output != nil else { throw ValidationError("subtitles of several clips go one file per clip: give --output FOLDER") }
            let names = clips.map(subtitleName)
            if let twice = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw ValidationError("two clips would both be written to \(twice): transcribe them in separate calls")
            }
        }
    }

    func run() throws {
        let format = chosenFormat
        var folder: String?
        if let output {
            var isDir: ObjCBool = false
            if clips.count > 1 && (format == .srt || format == .vtt) {
                guard FileManager.default.fileExists(atPath: output, isDirectory: &isDir), isDir.boolValue else {
                    throw MMAttnError("subtitles of several clips go one file per clip into a folder: give an existing folder as --output", file: output)
                }
                folder = output
            } else {
                try OutputFile.checkWritable(output)
            }
        }
        let model = try modelOptions.resolve(default: DefaultModel.audio)
        let transcriber = try Transcriber(model: model, dtype: compute.dtype)
        let options = TranscriptionOptions(timestamps: timestamps || format != .txt, language: language, task: task,
                                           wordTimestamps: wordTimestamps)
        var transcripts: [(String, Transcript)] = []
        for clip in clips {
            let line = quiet ? nil : TranscriptionProgress(clip: clip)
            let transcript = try transcriber.transcribe(path: clip, options: options, progress: line.map { l in { l.update($0, $1) } })
            line?.finish()
            transcripts.append((clip, transcript))
            if let folder {
                let path = (folder as NSString).appendingPathComponent(subtitleName(clip))
                try AtomicFile.write(Data(subtitles(transcript, format).utf8), to: path)
                reportWritten(path, "\(format.rawValue) subtitles of \(clip)")
            }
        }
        if folder != nil { return }
        let text: String
        switch format {
        case .txt: text = plainText(transcripts)
        case .json: text = ResultsJSON.transcripts(model: model, transcripts, words: wordTimestamps)
        case .srt, .vtt: text = subtitles(transcripts[0].1, format)  // one clip: validate() refuses more without a folder
        }
        if let output {
            try AtomicFile.write(Data(text.utf8), to: output)
            reportWritten(output, format == .txt ? "transcript" : "\(format.rawValue) transcript")
        } else {
            Stdout.write(text)
        }
    }

    /// The text of each clip (with several clips, each under its path); with --timestamps, one
    /// line per segment with its times.
    func plainText(_ transcripts: [(String, Transcript)]) -> String {
        var out = ""
        for (clip, t) in transcripts {
            if transcripts.count > 1 { out += "\(clip):\n" }
            if timestamps || wordTimestamps {
                for s in t.segments {
                    out += "[\(clock(s.start)) --> \(clock(s.end))] " + s.text.trimmingCharacters(in: .whitespaces) + "\n"
                }
            } else {
                out += t.text.trimmingCharacters(in: .whitespaces) + "\n"
            }
        }
        return out
    }

    /// The subtitle file of `clip` in the --output folder: its name with the format's extension.
    func subtitleName(_ clip: String) -> String {
        ((clip as NSString).lastPathComponent as NSString).deletingPathExtension + "." + chosenFormat.rawValue
    }

    /// One cue per segment with text.
    func subtitles(_ t: Transcript, _ format: TranscriptFormat) -> String {
        let cues = t.segments.filter { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            .map { SubtitleCue(start: $0.start, end: $0.end, text: $0.text) }
        return format == .srt ? Subtitles.srt(cues) : Subtitles.webVTT(cues)
    }
}

/// 75.3 → "01:15.300" (hours from one hour on), as WebVTT writes times.
func clock(_ seconds: Double) -> String {
    Subtitles.timestamp(seconds, alwaysIncludeHours: false, decimalMarker: ".")
}

/// "clip: 12:30.000 of 47:10.000 (26%)" on stderr when it is a terminal, redrawn before each
/// window of audio longer than one window.
final class TranscriptionProgress {
    let clip: String
    let enabled = isatty(2) != 0
    var total: Double?

    init(clip: String) { self.clip = clip }

    func update(_ done: Double, _ total: Double) {
        guard enabled, total > 30 else { return }
        self.total = total
        Stderr.write(String(format: "\r%@: %@ of %@ (%.0f%%)", clip, clock(done), clock(total), 100 * done / total))
    }

    /// Show the whole clip done and end the line.
    func finish() {
        guard let total else { return }
        Stderr.write(String(format: "\r%@: %@ of %@ (100%%)\n", clip, clock(total), clock(total)))
    }
}
