import Foundation

/// The small bitmap font the pictures are labelled with, so that drawing needs no system fonts.
///
/// Glyphs are 5 pixels wide on a 9-row cell: rows 0–6 hold capitals and digits (lower case from
/// row 2), rows 7–8 the descenders. They were drawn for this project, one glyph per line below:
/// nine rows of five pixels, `#` set and `.` clear (rows left out at the end are clear). Letters
/// and punctuation are proportional (their empty columns trimmed), digits keep the full width so
/// that numbers line up. Characters outside printable ASCII draw as a sensible stand-in: accents
/// dropped ("é" as "e"), the space markers of byte-level BPE and SentencePiece ("Ġ", "▁") as a
/// middle dot, line breaks ("Ċ", "\n") as "↵", anything else as a hollow box.
public enum BitmapFont {
    /// Rows of a glyph cell, descenders included.
    public static let cellHeight = 9
    /// Rows above the baseline (capitals and digits).
    public static let capHeight = 7
    /// Pixels between two glyphs (before scaling).
    static let spacing = 1
    /// The advance of a space (before scaling).
    static let spaceAdvance = 4

    /// The width in pixels of `text` drawn at `scale` (no trailing space after the last glyph).
    public static func width(of text: String, scale: Int = 1) -> Int {
        var total = 0
        forEachGlyph(in: text) { glyph in total += glyph.advance }
        return max(0, total - spacing) * scale
    }

    /// The height in pixels of a line of text at `scale`, descenders included.
    public static func height(scale: Int = 1) -> Int { cellHeight * scale }

    /// `text` shortened with a trailing "…" so that it fits in `maxWidth` pixels at `scale`
    /// (unchanged when it fits; empty when not even the "…" fits).
    public static func truncated(_ text: String, toWidth maxWidth: Int, scale: Int = 1) -> String {
        if width(of: text, scale: scale) <= maxWidth { return text }
        let ellipsis = "…"
        var kept = ""
        for ch in text {
            let candidate = kept + String(ch)
            if width(of: candidate + ellipsis, scale: scale) > maxWidth { break }
            kept = candidate
        }
        return width(of: kept + ellipsis, scale: scale) <= maxWidth ? kept + ellipsis : ""
    }

    /// One glyph: its set pixels (bit `row * 5 + column`), the first set column, and its advance.
    struct Glyph {
        let bits: UInt64
        let left: Int
        let advance: Int

        func isSet(row: Int, column: Int) -> Bool { bits >> UInt64(row * 5 + column) & 1 == 1 }
    }

    /// Call `body` with the glyph of every character of `text`, in order.
    static func forEachGlyph(in text: String, _ body: (Glyph) -> Void) {
        for ch in text {
            if let v = ch.asciiValue, v >= 32, v < 127 {
                body(ascii[Int(v) - 32])
            } else {
                body(standIn(for: ch))
            }
        }
    }

    /// The glyph drawn for a character outside printable ASCII.
    static func standIn(for ch: Character) -> Glyph {
        switch ch {
        case "Ġ", "▁", "·", "\t": return middleDot
        case "Ċ", "↵", "\n", "\r", "\r\n": return lineBreak
        case "…": return ellipsis
        case "×": return times
        case "–", "—", "−": return ascii(for: "-")
        case "‘", "’": return ascii(for: "'")
        case "“", "”": return ascii(for: "\"")
        default: break
        }
        let folded = String(ch).folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil)
        if folded.count == 1, let f = folded.first, f.isASCII, let v = f.asciiValue, v >= 32, v < 127 {
            return ascii[Int(v) - 32]
        }
        return box
    }

    static func ascii(for ch: Character) -> Glyph { ascii[Int(ch.asciiValue!) - 32] }

    /// Printable ASCII, 32 (space) to 126 (`~`), in order.
    static let asciiArt: [String] = [
        "",                                                  // space
        "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",         // !
        ".#.#. .#.#. .#.#.",                                 // "
        ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",         // #
        "..#.. .#### #.#.. .###. ..#.# ####. ..#..",         // $
        "##... ##..# ...#. ..#.. .#... #..## ...##",         // %
        ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",         // &
        "..#.. ..#.. .#...",                                 // '
        "...#. ..#.. .#... .#... .#... ..#.. ...#.",         // (
        ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",         // )
        "..... ..#.. #.#.# .###. #.#.# ..#..",               // *
        "..... ..#.. ..#.. ##### ..#.. ..#..",               // +
        "..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...",  // ,
        "..... ..... ..... .###.",                           // -
        "..... ..... ..... ..... ..... .##.. .##..",         // .
        "....# ....# ...#. ..#.. .#... #.... #....",         // /
        ".###. #...# #..## #.#.# ##..# #...# .###.",         // 0
        "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",         // 1
        ".###. #...# ....# ...#. ..#.. .#... #####",         // 2
        "##### ...#. ..#.. ...#. ....# #...# .###.",         // 3
        "...#. ..##. .#.#. #..#. ##### ...#. ...#.",         // 4
        "##### #.... ####. ....# ....# #...# .###.",         // 5
        "..##. .#... #.... ####. #...# #...# .###.",         // 6
        "##### ....# ...#. ..#.. .#... .#... .#...",         // 7
        ".###. #...# #...# .###. #...# #...# .###.",         // 8
        ".###. #...# #...# .#### ....# ...#. .##..",         // 9
        "..... .##.. .##.. ..... .##.. .##..",               // :
        "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...",   // ;
        "...#. ..#.. .#... #.... .#... ..#.. ...#.",         // <
        "..... ..... ##### ..... #####",                     // =
        ".#... ..#.. ...#. ....# ...#. ..#.. .#...",         // >
        ".###. #...# ....# ...#. ..#.. ..... ..#..",         // ?
        ".###. #...# ....# .##.# #.#.# #.#.# .###.",         // @
        ".###. #...# #...# ##### #...# #...# #...#",         // A
        "####. #...# #...# ####. #...# #...# ####.",         // B
        ".###. #...# #.... #.... #.... #...# .###.",         // C
        "###.. #..#. #...# #...# #...# #..#. ###..",         // D
        "##### #.... #.... ####. #.... #.... #####",         // E
        "##### #.... #.... ####. #.... #.... #....",         // F
        ".###. #...# #.... #.### #...# #...# .####",         // G
        "#...# #...# #...# ##### #...# #...# #...#",         // H
        ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",         // I
        "..### ...#. ...#. ...#. ...#. #..#. .##..",         // J
        "#...# #..#. #.#.. ##... #.#.. #..#. #...#",         // K
        "#.... #.... #.... #.... #.... #.... #####",         // L
        "#...# ##.## #.#.# #.#.# #...# #...# #...#",         // M
        "#...# #...# ##..# #.#.# #..## #...# #...#",         // N
        ".###. #...# #...# #...# #...# #...# .###.",         // O
        "####. #...# #...# ####. #.... #.... #....",         // P
        ".###. #...# #...# #...# #.#.# #..#. .##.#",         // Q
        "####. #...# #...# ####. #.#.. #..#. #...#",         // R
        ".#### #.... #.... .###. ....# ....# ####.",         // S
        "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",         // T
        "#...# #...# #...# #...# #...# #...# .###.",         // U
        "#...# #...# #...# #...# #...# .#.#. ..#..",         // V
        "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",         // W
        "#...# #...# .#.#. ..#.. .#.#. #...# #...#",         // X
        "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",         // Y
        "##### ....# ...#. ..#.. .#... #.... #####",         // Z
        "..##. ..#.. ..#.. ..#.. ..#.. ..#.. ..##.",         // [
        "#.... #.... .#... ..#.. ...#. ....# ....#",         // backslash
        ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .##..",         // ]
        "..#.. .#.#. #...#",                                 // ^
        "..... ..... ..... ..... ..... ..... ..... #####",   // _
        ".#... ..#..",                                       // `
        "..... ..... .###. ....# .#### #...# .####",         // a
        "#.... #.... ####. #...# #...# #...# ####.",         // b
        "..... ..... .###. #.... #.... #...# .###.",         // c
        "....# ....# .#### #...# #...# #...# .####",         // d
        "..... ..... .###. #...# ##### #.... .###.",         // e
        "..##. .#..# .#... ###.. .#... .#... .#...",         // f
        "..... ..... .#### #...# #...# #...# .#### ....# .###.",  // g
        "#.... #.... #.##. ##..# #...# #...# #...#",         // h
        "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",         // i
        "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",  // j
        "#.... #.... #..#. #.#.. ##... #.#.. #..#.",         // k
        ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",         // l
        "..... ..... ##.#. #.#.# #.#.# #...# #...#",         // m
        "..... ..... #.##. ##..# #...# #...# #...#",         // n
        "..... ..... .###. #...# #...# #...# .###.",         // o
        "..... ..... ####. #...# #...# #...# ####. #.... #....",  // p
        "..... ..... .#### #...# #...# #...# .#### ....# ....#",  // q
        "..... ..... #.##. ##..# #.... #.... #....",         // r
        "..... ..... .#### #.... .###. ....# ####.",         // s
        ".#... .#... ###.. .#... .#... .#..# ..##.",         // t
        "..... ..... #...# #...# #...# #..## .##.#",         // u
        "..... ..... #...# #...# #...# .#.#. ..#..",         // v
        "..... ..... #...# #...# #.#.# #.#.# .#.#.",         // w
        "..... ..... #...# .#.#. ..#.. .#.#. #...#",         // x
        "..... ..... #...# #...# #...# #...# .#### ....# .###.",  // y
        "..... ..... ##### ...#. ..#.. .#... #####",         // z
        "..##. .#... .#... ##... .#... .#... ..##.",         // {
        "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",   // |
        ".##.. ...#. ...#. ...## ...#. ...#. .##..",         // }
        "..... ..... .#... #.#.# ...#.",                     // ~
    ]

    static let ascii: [Glyph] = asciiArt.enumerated().map { i, art in
        parse(art, fullWidth: (48...57).contains(i + 32))
    }
    static let middleDot = parse("..... ..... ..... .##.. .##..", fullWidth: false)
    static let lineBreak = parse("....# ....# ..#.# .#..# ##### .#... ..#..", fullWidth: false)
    static let ellipsis = parse("..... ..... ..... ..... ..... ..... #.#.#", fullWidth: false)
    static let times = parse("..... #...# .#.#. ..#.. .#.#. #...#", fullWidth: false)
    static let box = parse("##### #...# #...# #...# #...# #...# #####", fullWidth: false)

    /// A glyph from its rows of `#` and `.`; `fullWidth` keeps all five columns (digits).
    static func parse(_ art: String, fullWidth: Bool) -> Glyph {
        let rows = art.split(separator: " ")
        precondition(rows.count <= cellHeight && rows.allSatisfy { $0.count == 5 }, "BitmapFont: bad glyph \(art)")
        var bits: UInt64 = 0
        var first = 5, last = -1
        for (r, row) in rows.enumerated() {
            for (c, ch) in row.enumerated() where ch == "#" {
                bits |= 1 << UInt64(r * 5 + c)
                first = min(first, c)
                last = max(last, c)
            }
        }
        if last < 0 { return Glyph(bits: 0, left: 0, advance: spaceAdvance) }
        if fullWidth { first = 0; last = 4 }
        return Glyph(bits: bits, left: first, advance: last - first + 1 + spacing)
    }
}
