import ArgumentParser
import Foundation
import MMAttn

/// `bench transcribe`: the real-time factor of `transcribe` on clips, and the decoder's key/value
/// cache against recomputing the whole prefix at every step, measured in the same run.
struct BenchTranscribe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Real-time factor of transcription, and the decoder's cache against recomputing the prefix.",
        usage: "mmattn bench transcribe <clip> ... --model <model> [--runs <n>] [--json]",
        discussion: """
        `seconds`: the median of --runs transcriptions after one warm-up, from the \
        file to the text (decoding, resampling, features, encoder, greedy \
        decoding); `rtf` is seconds / audio seconds (below 1: faster than real \
        time). `decoder_cached_ms` replays the transcript's tokens through the \
        decoder one step at a time with the key/value cache (each step one new \
        row); `decoder_uncached_ms` replays them recomputing every earlier \
        position at each step, as a decoder without a cache must; `cache_ratio` \
        is uncached / cached. Fixtures/bench_whisper.py prints the same `rtf` for \
        transformers and faster-whisper.

          swift build -c release
          .build/release/mmattn bench transcribe Fixtures/audio/arctic_a0007.wav \\
              --model openai/whisper-tiny.en --runs 5
        """
    )
    @Argument(help: "Audio files.") var clips: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Timed runs per clip (the median is printed).") var runs = 3
    @Flag(help: "Decode with timestamp tokens (as --json and subtitles do).") var timestamps = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let model = try modelOptions.resolveRequired()
        let (transcriber, loadSeconds) = try timedOnce { try Transcriber(model: model) }
        let options = TranscriptionOptions(timestamps: timestamps)
        var lines: [String] = []
        for clip in clips {
            let audio = try audioSeconds(clip)
            guard audio > 0 else { throw MMAttnError("the clip holds no audio to time", file: clip) }
            var transcript: Transcript?
            let seconds = try medianSeconds(runs: runs) { transcript = try transcriber.transcribe(path: clip, options: options) }
            let tokens = transcript!.segments.flatMap(\.tokens)
            let (cached, uncached) = try replay(transcriber, clip: clip, tokens: tokens)
            let item = "{\"clip\": \(JSON.quote(clip)), \"audio_s\": \(format(audio)), \"seconds\": \(format(seconds)), "
                + "\"rtf\": \(format(seconds / audio)), \"tokens\": \(tokens.count), \"decoder_cached_ms\": \(format(cached * 1000)), "
                + "\"decoder_uncached_ms\": \(format(uncached * 1000)), \"cache_ratio\": \(format(uncached / cached))}"
            lines.append(item)
            if !json {
                Stdout.write(String(format: "%@: %.2f s of audio in %.3f s (real-time factor %.4f), %d tokens; decoder %.1f ms with the cache, %.1f ms without (%.1f×)\n",
                                    clip, audio, seconds, seconds / audio, tokens.count, cached * 1000, uncached * 1000, uncached / cached))
            }
        }
        if json {
            Stdout.write("{\"model\": \(JSON.quote(model)), \"load_ms\": \(format(loadSeconds * 1000)), \"threads\": \(Threads.count), "
                         + "\"results\": [\(lines.joined(separator: ", "))]}\n")
        }
    }

    /// Median times to feed a plain prompt and the transcript's `tokens` (every window's, cut at
    /// the decoder's positions) through the decoder, attending to the first window's audio, with
    /// the cache and recomputing the prefix at every step: the same work per token as decoding.
    func replay(_ t: Transcriber, clip: String, tokens: [Int32]) throws -> (cached: Double, uncached: Double) {
        let decoder = t.whisper.decoder
        let prompt = [t.generation.decoderStartTokenId] + (timestamps ? [] : [t.generation.noTimestampsTokenId].compactMap { $0 })
        let sequence = Array((prompt + tokens).prefix(decoder.maxTargetPositions))
        let firstWindow = try AudioStream(path: clip, sampleRate: t.samplingRate).read(maxCount: t.featureExtractor.nSamples)
        let features = t.featureExtractor.features(firstWindow)
        let memory = decoder.memory([try t.whisper.encoder.forward(features: features)])
        let cached = try medianSeconds(runs: runs) {
            let cache = decoder.makeCache()
            _ = try decoder.step([Array(sequence.prefix(prompt.count))], memory: memory, cache: cache)
            for id in sequence.dropFirst(prompt.count) { _ = try decoder.step([[id]], memory: memory, cache: cache) }
        }
        let uncached = try medianSeconds(runs: runs) {
            for n in prompt.count...sequence.count {
                _ = try decoder.step([Array(sequence.prefix(n))], memory: memory, cache: decoder.makeCache())
            }
        }
        return (cached, uncached)
    }

    /// The clip's duration, read through once in bounded memory.
    func audioSeconds(_ clip: String) throws -> Double {
        let stream = try AudioStream(path: clip)
        var buffer = [Float](repeating: 0, count: 1 << 16)
        var count = 0
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try stream.read(into: $0) }
            if n == 0 { break }
            count += n
        }
        return Double(count) / Double(stream.sampleRate)
    }

    func format(_ x: Double) -> String { String(format: "%.4f", x) }
}
