// Live-style transcription of a long recording with MMAttn as a library: the file is read and
// decoded one 30 s window at a time, and each window's segments are printed as soon as it is done,
// so the first lines appear after seconds, whatever the length, and memory stays flat.
//
//   swift run -c release transcribe-stream lecture.flac --model openai/whisper-base.en
//   swift run -c release transcribe-stream Fixtures/audio/derived/speech-mix.flac \
//       --model Fixtures/models/whisper-gen
//
// The tiny fixture model is random: its words mean nothing, but the windows, times and segments are
// those of the real procedure.
import Foundation
import MMAttn

var arguments = Array(CommandLine.arguments.dropFirst())
var model = "openai/whisper-base"
if let i = arguments.firstIndex(of: "--model"), i + 1 < arguments.count {
    model = arguments[i + 1]
    arguments.removeSubrange(i...(i + 1))
}
guard arguments.count == 1 else {
    FileHandle.standardError.write(Data("usage: transcribe-stream FILE [--model M]\n".utf8))
    exit(2)
}

/// 75.3 → "01:15.30".
func clock(_ seconds: Double) -> String {
    let centis = Int((seconds * 100).rounded())
    return String(format: "%02d:%02d.%02d", centis / 6000, centis / 100 % 60, centis % 100)
}

do {
    let transcriber = try Transcriber(model: model)
    let start = Date()
    _ = try transcriber.transcribe(path: arguments[0], options: TranscriptionOptions(timestamps: true), onSegments: { segments in
        for s in segments where !s.text.isEmpty {
            print("[\(clock(s.start)) → \(clock(s.end))]\(s.text)")
        }
        FileHandle.standardError.write(Data(String(format: "  (%.1f s elapsed)\n", Date().timeIntervalSince(start)).utf8))
    })
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
