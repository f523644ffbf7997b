import Foundation

/// Log-mel features served one 30 s window at a time, at increasing offsets.
public protocol LogMelWindows {
    /// Mel frames of the whole input (3000 for one padded window).
    var frameCount: Int { get }
    /// Mel frames that cover real audio (transformers' attention mask): word timestamps align
    /// tokens to these only.
    var audioFrames: Int { get }
    /// The features from frame `seek` on, [mels, 3000], zero past the end of the input, and how
    /// many of its frames are the input's.
    func window(at seek: Int) throws -> (features: Tensor, frames: Int)
}

/// One window of features that is already in memory (a clip of up to 30 s, padded as
/// transformers' feature extractor pads it).
struct PaddedWindow: LogMelWindows {
    let features: Tensor  // [mels, 3000]
    let audioFrames: Int

    var frameCount: Int { features.shape[1] }

    func window(at seek: Int) throws -> (features: Tensor, frames: Int) {
        let mels = features.shape[0], n = features.shape[1]
        if seek == 0 { return (features, n) }
        let out = Tensor(zeros: [mels, n])  // the frames from seek on, then zeros
        for m in 0..<mels {
            (out.data + m * n).update(from: features.pointer + m * n + seek, count: n - seek)
        }
        return (out, n - seek)
    }
}

/// Audio longer than one window: the whole signal's log-mel (its peak from a first pass), served
/// window by window from a stream or from samples.
extension LongFormMel: LogMelWindows {
    /// Long-form features cover the audio only: the attention mask is all ones.
    public var audioFrames: Int { frameCount }
}

/// A transcript: the text and its segments.
public struct Transcript: Sendable {
    /// All text tokens decoded together, special and timestamp tokens skipped (what
    /// `batch_decode(generate(...), skip_special_tokens=True)` gives; it usually starts with a space).
    public var text: String
    public var segments: [TranscriptSegment]
    /// The language code of the prompt ("en", given or detected) for multilingual checkpoints.
    public var language: String?
}

/// Audio in, segments out: Whisper transcription with greedy decoding as transformers' `generate`
/// does it. Load once, transcribe many.
///
/// Up to 30 s of audio is one window (`generate(input_features)`); longer audio is decoded window
/// by window, each next window starting at the last complete timestamp of the previous one
/// (`truncation=False, return_timestamps=True`).
public final class Transcriber: Sendable {
    public let model: ModelFolder
    public let whisper: WhisperSpeechModel
    public let generation: WhisperGenerationConfig
    public let featureExtractor: WhisperFeatureExtractor
    public let tokenizer: Tokenizer
    /// Width of the median filter over the alignment heads' attention (config `median_filter_width`).
    public let medianFilterWidth: Int
    /// Which ids are timestamps, special or languages, for building words.
    let wordRoles: WhisperTokenRoles?

    /// Seconds per timestamp token, and per mel frame.
    static let timePrecision = 0.02
    static let framePrecision = 0.01

    /// The model computes in `dtype` (bf16 where the CPU runs it: `DType.runnable`).
    public init(model spec: String, dtype: DType = .f32) throws {
        let load = try ModelLoad(spec, accepting: [.whisper], for: "transcripts", dtype: dtype)
        model = load.folder
        whisper = try WhisperSpeechModel(config: load.folder.config, weights: load.checkpoint)
        generation = try WhisperGenerationConfig(folder: load.folder.path, config: load.folder.config)
        let mels = whisper.encoder.numMelBins
        featureExtractor = try load.preprocessor({ try WhisperFeatureExtractor(config: $0) },
                                                 defaults: { try WhisperFeatureExtractor(featureSize: mels) },
                                                 describe: { "\($0.featureSize) mel bins, \($0.samplingRate / 1000) kHz, \($0.chunkLength) s windows" })
        guard featureExtractor.featureSize == mels, featureExtractor.nFrames == whisper.encoder.inputFrames else {
            throw MMAttnError("preprocessor_config.json gives \(featureExtractor.featureSize) mel bins × \(featureExtractor.nFrames) frames, but the model expects \(mels) × \(whisper.encoder.inputFrames)", file: load.preprocessorPath)
        }
        tokenizer = try Tokenizer(folder: load.folder.path)
        medianFilterWidth = try load.folder.config.int("median_filter_width", default: 7, in: 1...1001)
        guard medianFilterWidth % 2 == 1 else {
            throw MMAttnError("\"median_filter_width\" must be odd (a median filter has a middle), not \(medianFilterWidth)", file: load.folder.config.file)
        }
        wordRoles = WhisperTokenRoles(tokenizer: tokenizer)
        guard generation.eosTokenId < Int32(whisper.decoder.vocabSize), generation.decoderStartTokenId < Int32(whisper.decoder.vocabSize) else {
            throw MMAttnError("decoder_start_token_id or eos_token_id is outside the vocabulary of \(whisper.decoder.vocabSize)", file: generation.source)
        }
    }

    /// The sampling rate the features expect (16 kHz).
    public var samplingRate: Int { featureExtractor.samplingRate }

    /// Transcribe mono samples at `samplingRate`. `progress` hears (seconds done, seconds in all)
    /// before each window; `onSegments` gets each window's finished segments as soon as it is decoded.
    public func transcribe(samples: [Float], options: TranscriptionOptions = TranscriptionOptions(),
                           progress: ((Double, Double) -> Void)? = nil,
                           onSegments: (([TranscriptSegment]) -> Void)? = nil) throws -> Transcript {
        if samples.count <= featureExtractor.nSamples {
            let window = PaddedWindow(features: featureExtractor.features(samples),
                                      audioFrames: featureExtractor.validFrames(sampleCount: samples.count))
            return try transcribe(window, longForm: false, options: options, progress: progress, onSegments: onSegments)
        }
        return try transcribe(try LongFormMel(samples: samples, extractor: featureExtractor), longForm: true, options: options,
                              progress: progress, onSegments: onSegments)
    }

    /// Transcribe the audio file at `path`, decoded and resampled as `AudioDecoder` does. Up to
    /// 30 s it is read whole; longer files are streamed (read once for Whisper's log-mel peak,
    /// then window by window), so memory stays flat up to `AudioStream`'s 24 hours.
    public func transcribe(path: String, options: TranscriptionOptions = TranscriptionOptions(),
                           progress: ((Double, Double) -> Void)? = nil,
                           onSegments: (([TranscriptSegment]) -> Void)? = nil) throws -> Transcript {
        let stream = try AudioStream(path: path, sampleRate: samplingRate)
        let head = try stream.read(maxCount: featureExtractor.nSamples + 1)
        if head.count <= featureExtractor.nSamples {
            return try transcribe(samples: head, options: options, progress: progress, onSegments: onSegments)
        }
        try stream.rewind()
        return try transcribe(try LongFormMel(stream: stream, extractor: featureExtractor), longForm: true, options: options,
                              progress: progress, onSegments: onSegments)
    }

    /// The decoding loop over windows. `firstEncoded`: the first window's encoder output when the
    /// caller has it already, [1500, D].
    func transcribe(_ windows: any LogMelWindows, longForm: Bool, options: TranscriptionOptions, firstEncoded known: Tensor? = nil,
                    progress: ((Double, Double) -> Void)? = nil, onSegments: (([TranscriptSegment]) -> Void)? = nil) throws -> Transcript {
        let timestamps = options.timestamps || options.wordTimestamps || longForm
        if timestamps && generation.noTimestampsTokenId == nil {
            throw MMAttnError("missing \"no_timestamps_token_id\", which timestamps and audio longer than 30 s need", file: generation.source)
        }
        if let tb = generation.timestampBegin, timestamps && Int(tb) >= whisper.decoder.vocabSize {
            throw MMAttnError("no_timestamps_token_id \(tb - 1) leaves no timestamp tokens in the vocabulary of \(whisper.decoder.vocabSize)", file: generation.source)
        }
        if options.wordTimestamps {
            guard let heads = generation.alignmentHeads else {
                throw MMAttnError("missing \"alignment_heads\", which word timestamps need; use the generation_config.json of the checkpoint's Hub repository", file: generation.source)
            }
            let decoder = whisper.decoder
            for (l, h) in heads where l >= decoder.numLayers || h >= decoder.numHeads {
                throw MMAttnError("alignment head [\(l), \(h)] does not exist in a decoder of \(decoder.numLayers) layers × \(decoder.numHeads) heads", file: generation.source)
            }
        }
        if options.wordTimestamps && wordRoles == nil {
            throw MMAttnError("the tokenizer has no <|notimestamps|> or <|endoftext|> token, which word timestamps need", file: model.path)
        }
        // A multilingual checkpoint given no language detects it on the first window: its encoder
        // output is kept for that window's decoding.
        var firstEncoded = known
        let prompt = try initialTokens(options: options, timestamps: timestamps, firstWindow: {
            if let firstEncoded { return firstEncoded }
            let encoded = try whisper.encoder.forward(features: try windows.window(at: 0).features)  // [1500, D]
            firstEncoded = encoded
            return encoded
        })
        let rules = WhisperLogitsRules(config: generation, timestamps: timestamps, begin: prompt.count)
        let stride = 2  // encoder frames are two mel frames (conv2's stride)
        let windowFrames = whisper.encoder.inputFrames
        let total = windows.frameCount
        var maxLength = generation.maxLength
        var seek = 0
        var segments: [TranscriptSegment] = []
        var textTokens: [Int32] = []
        while seek < total {
            progress?(Double(seek) * Self.framePrecision, Double(total) * Self.framePrecision)
            let timeOffset = Double(seek) * Self.timePrecision / Double(stride)
            let seekFrames = min(total - seek, windowFrames)
            // transformers lengthens max_length by the prompt at every window (capped by the positions).
            maxLength = min(maxLength + min(whisper.decoder.maxTargetPositions / 2 - 1, prompt.count), whisper.decoder.maxTargetPositions)
            let encoded: Tensor  // [1500, D]
            if seek == 0, let first = firstEncoded {
                encoded = first
            } else {
                encoded = try whisper.encoder.forward(features: try windows.window(at: seek).features)
            }
            let decoded = try decodeWindow(encoded, prompt: prompt, rules: rules, maxLength: maxLength, alignment: options.wordTimestamps)
            let (found, advance) = split(decoded.tokens, timestampBegin: timestamps ? generation.timestampBegin! : Int32.max,
                                         timeOffset: timeOffset, seekFrames: seekFrames)
            // Word timestamps: each generated token's time from the alignment heads, plus the window's offset.
            var times: [Float]?
            if let alignment = decoded.alignment {
                let frames = WhisperAlignment.maskedNumFrames(audioFrames: windows.audioFrames, seek: seek,
                                                              encoderFrames: alignment.shape[2])
                let all = WhisperAlignment.tokenTimestamps(crossAttention: alignment, numFrames: frames,
                                                           medianFilterWidth: medianFilterWidth, promptLength: prompt.count)
                times = all[prompt.count...].map { $0 + Float(timeOffset) }
            }
            var finished: [TranscriptSegment] = []
            for (var s, range) in found {
                s.text = tokenizer.decode(s.tokens.filter { $0 < generation.eosTokenId })
                textTokens += s.tokens.filter { $0 < generation.eosTokenId }
                if let times, let roles = wordRoles {
                    s.tokenTimes = Array(times[range])
                    s.words = WhisperTranscript.words(tokens: s.tokens, tokenTimes: s.tokenTimes!, roles: roles,
                                                      language: languageName(prompt), decode: { self.tokenizer.decode($0) })
                        .map { $0.clamped(to: s.start...max(s.start, s.end)) }
                }
                finished.append(s)
            }
            onSegments?(finished)
            segments += finished
            // The timestamp rules make every pair later than the window's first token, so a window
            // always moves on; should it not, the next window starts after this one (no endless loop).
            seek += advance > 0 ? advance : seekFrames
        }
        let token = prompt.count > 1 ? generation.languageTokens.first(where: { $0.value == prompt[1] })?.key : nil
        let language = token.map { String($0.dropFirst(2).dropLast(2)) }
        return Transcript(text: tokenizer.decode(textTokens), segments: segments, language: language)
    }

    /// Split one window's tokens into segments at pairs of timestamp tokens and say how many mel
    /// frames the next window starts after this one's start (transformers' `_retrieve_segment`).
    func split(_ tokens: [Int32], timestampBegin tb: Int32, timeOffset: Double, seekFrames: Int) -> ([(TranscriptSegment, Range<Int>)], Int) {
        let isTimestamp = tokens.map { $0 >= tb }
        let singleEnding = isTimestamp.count >= 2 && !isTimestamp[isTimestamp.count - 2] && isTimestamp[isTimestamp.count - 1]
        var cuts = tokens.indices.dropLast().filter { isTimestamp[$0] && isTimestamp[$0 + 1] }.map { $0 + 1 }
        let t = Self.timePrecision
        guard !cuts.isEmpty else {
            // No pair: the whole window is one segment, ending at its last timestamp or its end.
            var end = Double(Int(Double(seekFrames) * Self.framePrecision / t))
            if let last = tokens.last(where: { $0 >= tb }), last != tb { end = Double(last - tb) }
            return ([(TranscriptSegment(start: timeOffset, end: timeOffset + end * t, tokens: tokens, text: ""), tokens.indices)], seekFrames)
        }
        if singleEnding { cuts.append(tokens.count) } else { cuts[cuts.count - 1] += 1 }
        var segments: [(TranscriptSegment, Range<Int>)] = []
        var from = 0
        for (i, cut) in cuts.enumerated() {
            let slice = Array(tokens[from..<cut])
            let endIndex = i < cuts.count - 1 || singleEnding ? slice.count - 1 : slice.count - 2
            segments.append((TranscriptSegment(start: timeOffset + Double(slice[0] - tb) * t,
                                               end: timeOffset + Double(slice[endIndex] - tb) * t, tokens: slice, text: ""), from..<cut))
            from = cut
        }
        if singleEnding { return (segments, seekFrames) }
        // The last segment is unfinished: the next window starts at its last complete timestamp.
        return (segments, Int(tokens[from - 2] - tb) * 2)
    }

    /// The decoder prompt: start of transcript, then language and task tokens for multilingual
    /// checkpoints, then `<|notimestamps|>` unless timestamps are wanted (transformers'
    /// `_retrieve_init_tokens`). A multilingual checkpoint given no language detects it from the
    /// first window.
    /// `firstWindow` gives the first window's encoder output, [1500, D], and is called only to detect the language.
    func initialTokens(options: TranscriptionOptions, timestamps: Bool, firstWindow: () throws -> Tensor) throws -> [Int32] {
        let g = generation
        if g.isMultilingual == false && (options.language != nil || options.task != nil) {
            throw MMAttnError("this is an English-only checkpoint: --language and --task apply to multilingual ones", file: g.source)
        }
        var tokens: [Int32?] = [g.decoderStartTokenId]
        if options.language == nil && options.task == nil { tokens += g.forcedTokens }
        var language: Int32?
        if let name = options.language {
            language = try languageToken(name)
        } else if !g.languageTokens.isEmpty && (tokens.count <= 1 || tokens[1] == nil) {
            language = try detectLanguage(try firstWindow())
        }
        if let language {
            if tokens.count > 1 { tokens[1] = language } else { tokens.append(language) }
        }
        if let task = options.task {
            guard let id = g.taskTokens[task] else {
                throw MMAttnError("task \"\(task)\" is not one of \(g.taskTokens.keys.sorted().joined(separator: ", "))", file: g.source)
            }
            tokens.append(id)
        } else if options.language != nil, let transcribe = g.taskTokens["transcribe"], !tokens.contains(where: { $0.map { g.taskTokens.values.contains($0) } ?? false }) {
            tokens.append(transcribe)
        }
        if let noTimestamps = g.noTimestampsTokenId {
            if !timestamps && tokens.last != noTimestamps { tokens.append(noTimestamps) }
            if timestamps && tokens.last == noTimestamps { tokens.removeLast() }
        }
        return tokens.compactMap { $0 }
    }

    /// The language of a prompt as transformers names it ("english"), for splitting words: Chinese,
    /// Japanese, Thai, Lao, Burmese and Cantonese split per character, the others on spaces.
    func languageName(_ prompt: [Int32]) -> String? {
        guard prompt.count > 1, let code = generation.languageTokens.first(where: { $0.value == prompt[1] })?.key else { return nil }
        return WhisperTranscript.languageNames[String(code.dropFirst(2).dropLast(2))]
    }

    /// The id of `<|code|>` for a language code ("de"), name ("german") or token ("<|de|>").
    func languageToken(_ name: String) throws -> Int32 {
        let lower = name.lowercased()
        let code = WhisperTranscript.languageNames.first(where: { $0.value == lower })?.key ?? lower
        let token = lower.hasPrefix("<|") ? lower : "<|\(code)|>"
        guard let id = generation.languageTokens[token] else {
            let codes = generation.languageTokens.keys.sorted().map { $0.dropFirst(2).dropLast(2) }.joined(separator: ", ")
            throw MMAttnError("language \"\(name)\" is not one this checkpoint knows; use a code among: \(codes)", file: generation.source)
        }
        return id
    }

    /// The most likely language token after `<|startoftranscript|>` for one window's encoder output.
    func detectLanguage(_ encoded: Tensor) throws -> Int32 {
        let decoder = whisper.decoder
        let logits = try decoder.step([[generation.decoderStartTokenId]], memory: decoder.memory([encoded]), cache: decoder.makeCache())
        var best: Int32 = -1, bestValue = -Float.infinity
        for id in generation.languageTokens.values.sorted() where Int(id) < decoder.vocabSize && logits.pointer[Int(id)] > bestValue {
            best = id
            bestValue = logits.pointer[Int(id)]
        }
        guard best >= 0 else { throw MMAttnError("no language token of lang_to_id is in the vocabulary", file: generation.source) }
        return best
    }

    /// Greedy decoding of one window's encoder output ([1500, D]): the generated tokens (end-of-text removed) and, with
    /// `alignment`, the alignment heads' cross-attention of every generated token but the last.
    func decodeWindow(_ encoded: Tensor, prompt: [Int32], rules: WhisperLogitsRules, maxLength: Int, alignment: Bool) throws -> DecodedWindow {
        let decoder = whisper.decoder
        let memory = decoder.memory([encoded])
        let cache = decoder.makeCache()
        let heads = alignment ? generation.alignmentHeads ?? [] : []  // checked by transcribe
        let rows = AlignmentRows(heads: heads, frames: encoded.shape[0])
        var stepOptions = EncoderOptions()
        if alignment {
            stepOptions.crossAttentionLayers = Set(heads.map(\.layer))
            stepOptions.crossAttentionSink = { layer, probs in rows.take(layer: layer, probs) }
        }
        let V = decoder.vocabSize
        var sequence = prompt
        var logits = try decoder.step([prompt], memory: memory, cache: cache)  // [1, V]
        while true {
            let next = rules.next(logits.data, vocab: V, sequence: sequence)
            sequence.append(next)
            if next == generation.eosTokenId || sequence.count >= maxLength { break }
            logits = try decoder.step([[next]], memory: memory, cache: cache, options: stepOptions)
        }
        var tokens = Array(sequence[prompt.count...])
        if tokens.last == generation.eosTokenId { tokens.removeLast() }
        return DecodedWindow(tokens: tokens, alignment: alignment ? rows.tensor() : nil)
    }
}

/// Collects the alignment heads' cross-attention rows, one per decoder step.
private final class AlignmentRows: @unchecked Sendable {
    // Written by the decoder's sink on the decoding thread only.
    let heads: [(layer: Int, head: Int)]
    let frames: Int
    var rows: [[Float]]  // per head: steps × frames

    init(heads: [(layer: Int, head: Int)], frames: Int) {
        self.heads = heads
        self.frames = frames
        rows = Array(repeating: [], count: heads.count)
    }

    /// One layer's probabilities of a one-token step, [1, H, 1, frames].
    func take(layer: Int, _ probs: Tensor) {
        for (i, (l, h)) in heads.enumerated() where l == layer {
            rows[i].append(contentsOf: UnsafeBufferPointer(start: probs.pointer + h * frames, count: frames))
        }
    }

    /// [heads, steps, frames].
    func tensor() -> Tensor {
        let steps = (rows.first?.count ?? 0) / max(frames, 1)
        let out = Tensor(uninitialized: [heads.count, steps, frames])
        for (i, r) in rows.enumerated() { (out.data + i * steps * frames).update(from: r, count: r.count) }
        return out
    }
}
