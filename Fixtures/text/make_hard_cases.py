"""Writes hard_cases.txt and hard_cases_multiline.json (the cases are written out here with escapes, so that
invisible characters stay reviewable).

    python Fixtures/text/make_hard_cases.py

hard_cases.txt: one case per line, lines separated by "\\n" only; no line holds any other character that Unicode
or Python's str.splitlines() counts as a line break (\\r, U+000B, U+000C, U+001C..U+001E, U+0085, U+2028,
U+2029), nor NUL, so every line splitter gives the same texts. Cases that need those characters, and the empty
string, are in hard_cases_multiline.json (a JSON list of strings).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00]")

WORD_300 = "supercalifragilisticexpialidocious" * 8 + "antidisestablishmentarianism" # 272 + 28 = 300 chars
NUMBER_200 = str(2 ** 700)[:200]

CASES = [
    # --- emoji: skin tones, ZWJ sequences, flags, keycaps, tags, variation selectors
    "thumbs up 👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 with every skin tone",
    "family 👨‍👩‍👧‍👦, technologist 👩🏽‍💻, couple 🧑‍🤝‍🧑, shrug 🤷‍♀️, facepalm 🤦🏾‍♂️",
    "rainbow flag 🏳️‍🌈 pirate flag 🏴‍☠️ transgender flag 🏳️‍⚧️",
    "country flags 🇺🇸🇬🇧🇯🇵🇩🇪🇫🇷🇮🇳 and a lone regional indicator 🇦 then text",
    "Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿 and Wales 🏴󠁧󠁢󠁷󠁬󠁳󠁿 (tag sequences)",
    "keycaps 1️⃣ 2️⃣ #️⃣ *️⃣ and 🔟",
    "heart ❤️ vs ❤ (with and without VS16), smile ☺️ vs ☺︎, victory ✌🏼",
    "😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘",
    "emoji glued to words: good👍job, ok👌, fire🔥🔥🔥, 100💯",
    "😂" * 30,
    # --- combining marks and normalization forms
    "precomposed é vs decomposed e\u0301, ñ vs n\u0303, ü vs u\u0308",
    "Cafe\u0301 Ame\u0301lie nai\u0308ve Noe\u0308l resume\u0301 Bjo\u0308rk",
    "\u0301\u0302 a line that starts with combining marks",
    "Zalgo: Z\u0351\u036b\u0343\u036a\u0302a\u0357\u0350\u0334l\u0311\u0314g\u0310\u0364\u0346o\u0364\u035b\u0349 text",
    "Å (U+00C5) A\u030a (A + ring) \u212b (angstrom sign) ångström",
    "Tiếng Việt có dấu: Trường Đại học Bách khoa Hà Nội",
    "Tie\u0302\u0301ng Vie\u0323\u0302t NFD: Tru\u031bo\u031b\u0300ng D\u0323a\u0323i ho\u0323c",
    "Hangul NFD: \u1112\u1161\u11ab\u1100\u1173\u11af vs NFC 한글",
    # --- CJK
    "中文分词测试：我爱自然语言处理。北京欢迎你！",
    "繁體中文：臺灣的資訊科技產業非常發達。",
    "日本語のテキスト：ひらがな、カタカナ、漢字。東京タワーに行きました。",
    "ｶﾀｶﾅ ﾊﾟﾋﾞﾌﾟﾍﾟﾎﾟ half-width katakana with voiced marks",
    "한국어 텍스트: 안녕하세요, 세계! 한글은 과학적인 문자입니다.",
    "CJK extension B 𠀀𠀁𪚥 and compatibility ideographs \uf900 \uf901 \ufa0e",
    "中English混合mixed文本text日本語かな",
    "CJK punctuation 。、「」『』【】・〜〈〉《》",
    "中文" * 40,
    # --- other scripts
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ ขอบคุณมาก",
    "العربية: مرحبا بالعالم، اللغة العربية تكتب من اليمين إلى اليسار ١٢٣٤٥٦٧٨٩٠",
    "Arabic with tashkeel: مُحَمَّدٌ وَالْكِتَابُ and tatweel: عـــربي",
    "עברית: שלום עולם! עִבְרִית with niqqud and geresh צ׳",
    "हिन्दी: नमस्ते दुनिया। क्षत्रिय ज्ञान श्री ०१२३४५६७८९",
    "বাংলা ভাষা, தமிழ் மொழி, తెలుగు, ಕನ್ನಡ, മലയാളം, ગુજરાતી, ਪੰਜਾਬੀ, ଓଡ଼ିଆ",
    "Ελληνικά: Σίσυφος, ΟΔΥΣΣΕΥΣ, ὀδυσσεύς, ΣΑΣ σας, lone Σ and ς",
    "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЛКА ёлка",
    "Українська: Ґанок, їжак, є. Беларуская: ў. Српски: Ђорђе Љубљана Њујорк Џ",
    "Braille ⠓⠑⠇⠇⠕, runes ᚠᚢᚦᚨᚱᚲ, Gothic 𐌰𐌱𐌲𐌳, Cherokee ᏣᎳᎩ, Ethiopic ሰላም ፩፪፫",
    "Georgian ქართული, Armenian Հայերեն, Sinhala සිංහල, Tibetan བོད་ཡིག་, Mongolian ᠮᠣᠩᠭᠣᠯ",
    "Khmer ភាសាខ្មែរ, Lao ພາສາລາວ, Myanmar မြန်မာဘာသာ, Javanese ꦧꦱꦗꦮ",
    "Mixed scripts: Hello Привет 你好 こんにちは 안녕 مرحبا שלום नमस्ते สวัสดี Γειά",
    "bidi: abc \u202eevil\u202c def, rtl\u200fmark, ltr\u200emark, isolate \u2067مرحبا\u2069 end",
    # --- case mapping, accents, Turkish, German, Greek
    "ÉCOLE ÀÉÎÕÜ ÇA ÑANDÚ ØRESUND ÆBLE ŒUVRE ÅLAND ÞORN ĐAKOVO ŁÓDŹ",
    "école àéîõü ça ñandú øresund æble œuvre åland þorn đakovo łódź",
    "Turkish: İstanbul ISPARTA ıi İI iİ ıI, DİYARBAKIR ığdır",
    "German: Straße STRASSE Maß MASS ẞ (capital sharp s) ß ﬀ",
    "titlecase digraphs ǅ ǈ ǋ Ǳ ǲ ǳ and ŉ ǰ ΐ ΰ (their uppercase is longer)",
    "Roman numerals Ⅻ Ⅳ ⅷ ⅿ and circled Ⓐ ⓑ",
    # --- NFKC compatibility characters
    "ligatures: ﬁnance ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ａｂｃ １２３ ！？＃＄％＆",
    "① ② ⑩ ⑳ ½ ¼ ¾ x² x³ H₂O ™ ℃ ℉ № ㎏ ㎞ ㍻ ㈱",
    "math letters 𝐌𝐚𝐭𝐡 𝕯𝖔𝖚𝖇𝖑𝖊 𝔽𝕣𝕒𝕜 𝓢𝓬𝓻𝓲𝓹𝓽 𝟏𝟐𝟑",
    "Ω (ohm U+2126) Ω K (kelvin U+212A) K µ (micro) μ ſ (long s) ﹏ ︴",
    "expanding: \ufdfa \ufdfb ㍿ ㋿ ﷽",
    "superscripts ⁰¹²³⁴⁵⁶⁷⁸⁹ subscripts ₀₁₂₃₄₅₆₇₈₉ fractions ⅐ ⅑ ⅒",
    # --- whitespace inside a line
    "two  spaces   three    four     five",
    "tab\there\t\ttwo tabs\t\t\tthree tabs",
    "   three leading spaces",
    "trailing spaces   ",
    "\t leading tab then space",
    "mixed \t \t \t whitespace run",
    "   ",
    " ",
    "\t",
    " " * 40,
    "NBSP\u00a0here, thin\u2009space, ideographic\u3000space, em\u2003space, narrow\u202fnbsp, ogham\u1680space",
    "word \u00a0 \u00a0 nbsp run",
    "a",
    ".",
    "A",
    # --- contractions
    "I'm sure it's what they're saying: we've, you'll, he'd, don't, can't, won't, y'all'd've",
    "I'M SURE IT'S WHAT THEY'RE SAYING: WE'VE, YOU'LL, HE'D, DON'T, CAN'T",
    "The Dog'S Bone It'S They'Re We'Ve I'M You'Ll He'D",
    "curly: the dog’s bone, it’s, they’re, we’ve, I’m, you’ll, he’d, don’t",
    "'s 't 're 've 'm 'll 'd at word starts and 'S 'T 'RE 'VE 'M 'LL 'D",
    "rock 'n' roll, 'quoted', ''double'', o'clock, O'Neil, rock’n’roll",
    "'S'T'RE'VE'M'LL'D'sglued",
    "it''s 's's ''' '' '",
    # --- long words and numbers
    WORD_300,
    "a" * 100,
    "b" * 101,
    "prefix " + "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2 + " suffix",
    NUMBER_200,
    "pi is 3.14159265358979323846264338327950288419716939937510582097494459",
    "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890",
    "1,000,000.00 and 1.000.000,00 and 1e-10 and 6.022e23 and 0x1F and 0b1010 and 1_000_000",
    "phone +1 (555) 123-4567, date 2024-02-29T23:59:59Z, time 12:30:45.123, IP 192.168.0.1",
    "version v1.2.3-rc.1+build.5, 3.11.7, 2.15.0",
    "state-of-the-art well-known mother-in-law self-attention",
    # --- URLs, e-mail, mentions
    "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2?tab=files#readme",
    "Visit http://example.com/path/to/file.html?query=1&lang=en or ftp://ftp.example.org/pub/",
    "mailto:jane.doe+filter@example.co.uk, john_smith@mail.example.org",
    "user@localhost @mention #hashtag $100 50% 3/4 C++ C# F# .NET node.js",
    "www.example.com/über/straße?q=ñ&x=%E2%9C%93",
    # --- code
    "def f(x): return x**2 + 1  # comment",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if (a != b && c >= d || !e) { return -1; } else { x <<= 2; y >>= 3; }",
    "const arrow = (a, b) => a ?? b; let s = `template ${x}`;",
    "SELECT * FROM users WHERE name LIKE '%o''Brien%' AND id <> 0;",
    "<div class=\"x\" id='y'>Hello &amp; welcome &lt;3 &#x1F600;</div>",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\\\\n\"}}",
    "\treturn None  # indented with a tab",
    "        pass  # eight spaces of indentation",
    "__init__ self._private __dunder__ snake_case camelCase PascalCase SCREAMING_CASE kebab-case",
    "~!@#$%^&*()_+`-=[]\\{}|;':\",./<>?",
    "........ ------ ====== ****** ______ ~~~~~~ ////// \\\\\\\\",
    "!!!??? ... … ‽ ¿¡ ‼ ⁉ — – ‐ ‑",
    "x=1;y=2;z=x+y;print(z)",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$",
    # --- control characters (not line breaks), zero-width characters, U+FFFD, odd code points
    "bell\x07 escape\x1b[31mred\x1b[0m delete\x7f backspace\x08",
    "C1 controls \x80\x81\x9f and soft hyphen\u00adhere",
    "start of heading \x01 and unit separator \x1f and \x02\x03",
    "zero\u200bwidth\u200bspace, ZW\u200cNJ, ZW\u200dJ, word\u2060joiner, BOM\ufeffinside",
    "\u200b leading zero width space and trailing\u200b",
    "variation selectors: 葛\U000e0100 ☺\ufe0e ☺\ufe0f and Mongolian\u180efvs",
    "U+FFFD: \ufffd and \ufffd\ufffd\ufffd in a row",
    "private use \ue000\uf8ff \U000f0000 and noncharacters \ufdd0 \ufffe \uffff",
    "Ġ literal Ġ and Ċ and ĉ and ÃĤ (byte-level alphabet characters)",
    "##suffix ## # and [UNK] ##",
    # --- the tokenizers' own special tokens inside text
    "[CLS] text [SEP] more [MASK] and [PAD] [UNK]",
    "[cls] lowercase specials [mask] [sep]",
    "glued[MASK]tokens[SEP]here",
    "[MASK]",
    "<|endoftext|>",
    "before<|endoftext|>after <|endoftext|> spaced",
    "<|endoftext|><|endoftext|>",
    "<|startoftranscript|><|en|><|transcribe|><|notimestamps|> Hello world.",
    "<mask>",
    " <mask>",
    "Hello <mask>!",
    "two spaces  <mask> tab\t<mask> newline-free glued<mask>here <mask><mask>",
    "<s> and </s> and <pad> and <unk>",
    "<s>text</s>",
    "<|begin_of_text|>llama special <|end_of_text|>",
    "< mask > <MASK> <|endoftext| > [ CLS ] not special",
    # --- everyday text
    "U.S.A. e.g. i.e. Mr. Dr. etc. a.m. p.m.",
    "ALL CAPS SENTENCE. Title Case Sentence. lowercase sentence.",
    "Hello, World! Hello,World!Hello",
    "¡Hola! ¿Qué tal? Ça va? Grüß Gott! Dziękuję. Tack så mycket. Þakka þér. Dankjewel.",
    "Currency € £ ¥ ₹ ₽ ₿ $ ¢ ₩ ₪",
    "Math ∀x∈ℝ: x²≥0, ∑ i = n(n+1)/2, √2 ≈ 1.414, ∞ ≠ −∞, ∂f/∂x",
    "Arrows → ← ↑ ↓ ⇒ ⟶ and boxes ┌─┐│└┘ ░▒▓█",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ha" * 40,
    "!" * 60,
    " ".join(["the"] * 60),
    "The quick brown fox jumps over the lazy dog.",
    "the quick brown fox jumps over the lazy dog",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
]

MULTILINE = [
    "",
    "line one\nline two",
    "windows\r\nline\r\nendings\r\n",
    "trailing newline\n",
    "\n",
    "\r",
    "\n\n\n",
    "  \n  indented after a newline",
    "vertical\x0btab and form\x0cfeed",
    "file\x1cgroup\x1drecord\x1eseparators",
    "next line\x85character",
    "line\u2028separator and paragraph\u2029separator",
    "nul\x00byte",
    "mixed \r\n\t\n  whitespace \n\n\n end",
    "code:\n    def f():\n\treturn 1\n",
    "Hello <mask>\n<mask> after newline",
    "<|endoftext|>\n<|endoftext|>",
    "[CLS]\n[SEP]",
    "it's\nthey're\n'll",
    "   \t\r\n   ",
]


def main() -> int:
    for case in CASES:
        assert not LINE_BREAKS.search(case), repr(case)
    assert len(WORD_300) == 300 and len(NUMBER_200) == 200
    assert len(set(CASES)) == len(CASES), "duplicate case"
    (HERE / "hard_cases.txt").write_text("\n".join(CASES) + "\n", encoding="utf-8")
    (HERE / "hard_cases_multiline.json").write_text(json.dumps(MULTILINE, ensure_ascii=True, indent=1) + "\n")
    print(f"hard_cases.txt: {len(CASES)} lines; hard_cases_multiline.json: {len(MULTILINE)} strings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
