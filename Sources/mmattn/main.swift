import ArgumentParser
import MMAttn

struct MMAttnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmattn",
        abstract: "Run pretrained transformer encoders (images, audio, proteins, text) on the CPU.",
        subcommands: []
    )
}

MMAttnCommand.main()
