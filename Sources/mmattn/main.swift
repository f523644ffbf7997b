import ArgumentParser
import Foundation
import MMAttn

struct MMAttnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmattn",
        abstract: "Run pretrained transformer encoders (text, images, audio, proteins) on the CPU, from Hugging Face checkpoints.",
        discussion: """
        Models are folders in Hugging Face layout (config.json, model.safetensors or pytorch_model.bin, \
        preprocessor_config.json, tokenizer files) or Hub ids, taken from the Hugging Face cache or \
        downloaded into it; each command has a default model. Errors go to stderr as one `error: ` line, \
        exit status 1.
        """,
        version: MMAttnVersion.string,
        subcommands: [ClassifyImage.self, EmbedImage.self, EmbedAudio.self, ClassifyAudio.self, Transcribe.self, EmbedProtein.self, EmbedText.self,
                      ClassifyVideo.self, EmbedVideo.self, AttentionCommand.self, Merge.self,
                      Tokenize.self, Inspect.self, Download.self, Models.self, Serve.self, Bench.self]
    )
}

/// Parse, run, and turn library errors into one `error: ` line and exit status 1.
do {
    var command = try MMAttnCommand.parseAsRoot()
    // Ctrl-C / SIGTERM remove unfinished output temporaries; SIGXFSZ makes an over-limit write an
    // error. The server handles those signals itself: it drains requests, then exits 0.
    if !(command is Serve) { AtomicFile.installInterruptCleanup() }
    try command.run()
} catch let error as MMAttnError {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
} catch {
    MMAttnCommand.exit(withError: error)
}
