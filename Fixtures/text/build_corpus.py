"""Builds Fixtures/text/corpus.txt from real text installed on a Debian machine (run once; the result is committed).

    python Fixtures/text/build_corpus.py            # rewrites corpus.txt and prints what each part took

corpus.txt is an input of gen_text.py, not an output: the set of installed packages differs between machines,
so gen_text.py never rebuilds it. One text per line (lines are separated by "\\n" only, and no line contains
any other character that Unicode or Python counts as a line break, so any line splitter gives the same texts).
SOURCES.md beside this file says where each part comes from and under which licence.

Parts, in file order (each part's texts in a fixed order: sorted paths, sorted message ids):
  1. prose        sentences of the licences in /usr/share/common-licenses (one sentence per line), plus the
                  start of the GPL-3 preamble as its original wrapped, indented lines
  2. changelog    Debian changelog lines of coreutils, iso-codes and base-files (bullets, as indented)
  3. code         Python standard library source lines (textwrap.py, heapq.py, json/encoder.py, as they are)
  4. messages     translated program messages: coreutils.mo and glib20.mo message strings in many languages
  5. countries    country names from iso-codes' iso_3166-1.mo, 6 per language on one line
  6. calendar     day names and the first month's name of glibc locale sources (/usr/share/i18n/locales, <Uxxxx> decoded)
"""

from __future__ import annotations

import gettext
import gzip
import re
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALE = Path("/usr/share/locale")
I18N = Path("/usr/share/i18n/locales")
DOC = Path("/usr/share/doc")
LICENSES = Path("/usr/share/common-licenses")

# Every character that str.splitlines() or Unicode treats as a line break; none may stay inside a line.
LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def clean(line: str) -> str | None:
    line = LINE_BREAKS.sub(" ", line).rstrip()
    return line if line.strip() else None


def paragraphs(text: str) -> list[str]:
    out = []
    for block in re.split(r"\n\s*\n", text):
        joined = " ".join(part.strip() for part in block.splitlines() if part.strip())
        if joined:
            out.append(joined)
    return out


def sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;])\s+(?=[A-Z(])", paragraph) if s]


def part_prose() -> list[str]:
    lines = []
    for name in ["Apache-2.0", "BSD", "CC0-1.0"]:
        for paragraph in paragraphs((LICENSES / name).read_text(encoding="utf-8")):
            lines += sentences(paragraph)
    gpl = (LICENSES / "GPL-3").read_text(encoding="utf-8").splitlines()
    start = gpl.index("                            Preamble")
    lines += [line for line in gpl[start:start + 60] if line.strip()]
    return lines


def part_changelog() -> list[str]:
    lines = []
    for package, count in [("coreutils", 110), ("iso-codes", 90), ("base-files", 80)]:
        path = DOC / package / "changelog.Debian.gz"
        if not path.exists():  # native Debian packages (base-files) have only changelog.gz
            path = DOC / package / "changelog.gz"
        text = gzip.open(path, "rt", encoding="utf-8").read().splitlines()
        # Entry headers and bullet lines; the maintainer signature lines (" -- name <mail>  date") are left out.
        kept = [line for line in text if line.strip() and not line.startswith(" -- ")]
        lines += kept[:count]
    return lines


def part_code() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines = []
    for name, first, count in [("textwrap.py", 1, 110), ("heapq.py", 1, 90), ("json/encoder.py", 1, 90)]:
        source = (stdlib / name).read_text(encoding="utf-8").splitlines()
        lines += [line for line in source[first - 1:first - 1 + count] if line.strip()]
    return lines


def catalog(path: Path) -> dict[str, str]:
    with open(path, "rb") as f:
        raw = gettext.GNUTranslations(f)._catalog  # msgid -> msgstr (plural forms keyed by tuples)
    return {k: v for k, v in raw.items() if isinstance(k, str) and k and v and v != k}


def pick(messages: dict[str, str], count: int) -> list[str]:
    """Evenly spaced translations of short one-line messages, in message-id order."""
    keys = sorted(k for k, v in messages.items() if 25 <= len(v) <= 160 and "\n" not in v.strip("\n"))
    if not keys:
        return []
    step = max(1, len(keys) // count)
    return [messages[k].strip("\n") for k in keys[::step][:count]]


COREUTILS_LANGS = ["af", "be", "bg", "ca", "cs", "da", "de", "el", "eo", "es", "et", "eu", "fi", "fr", "ga", "gl",
                   "hr", "hu", "id", "it", "ja", "kk", "ko", "lt", "ms", "nb", "nl", "pl", "pt", "pt_BR", "ro",
                   "ru", "sk", "sl", "sr", "sv", "tr", "uk", "vi", "zh_CN", "zh_TW"]
GLIB_LANGS = ["am", "ar", "as", "bn", "fa", "gu", "he", "hi", "hy", "ka", "kn", "ml", "mr", "ne", "or", "pa",
              "si", "ta", "te", "th", "ug", "yi", "zh_HK"]


def part_messages() -> list[str]:
    lines = []
    for lang in COREUTILS_LANGS:
        path = LOCALE / lang / "LC_MESSAGES" / "coreutils.mo"
        if path.exists():
            lines += pick(catalog(path), 7)
    for lang in GLIB_LANGS:
        path = LOCALE / lang / "LC_MESSAGES" / "glib20.mo"
        if path.exists():
            lines += pick(catalog(path), 7)
    return lines


def part_countries() -> list[str]:
    lines = []
    for lang_dir in sorted(LOCALE.iterdir()):
        path = lang_dir / "LC_MESSAGES" / "iso_3166-1.mo"
        if not path.exists():
            continue
        messages = catalog(path)
        names = [messages[k] for k in sorted(messages)]
        if len(names) < 60:
            continue
        lines.append(", ".join(names[::len(names) // 6][:6]))
    return lines


def decode_locale(value: str) -> str:
    return re.sub(r"<U([0-9A-Fa-f]{4,6})>", lambda m: chr(int(m.group(1), 16)), value)


def locale_list(text: str, keyword: str) -> list[str] | None:
    match = re.search(rf"^{keyword}\s+((?:\"[^\"]*\";?\s*/?\s*\n?\s*)+)", text, re.M)
    if not match:
        return None
    return [decode_locale(v) for v in re.findall(r"\"([^\"]*)\"", match.group(1))]


def part_calendar() -> list[str]:
    lines = []
    seen_languages = set()
    for path in sorted(I18N.iterdir()):
        if "_" not in path.name or "@" in path.name:
            continue
        language = path.name.split("_")[0]
        if language in seen_languages:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        days, months = locale_list(text, "day"), locale_list(text, "mon")
        if not days or not months or len(days) != 7 or len(months) != 12:
            continue
        seen_languages.add(language)
        lines.append(" ".join(days) + " — " + months[0])
    return lines


PARTS = [("prose", part_prose), ("changelog", part_changelog), ("code", part_code),
         ("messages", part_messages), ("countries", part_countries), ("calendar", part_calendar)]


def main() -> int:
    out = []
    for name, build in PARTS:
        lines = [c for c in (clean(line) for line in build()) if c is not None]
        print(f"{name}: {len(lines)} lines, {sum(len(l.encode()) + 1 for l in lines)} bytes", file=sys.stderr)
        out += lines
    text = "\n".join(out) + "\n"
    (HERE / "corpus.txt").write_text(text, encoding="utf-8")
    print(f"corpus.txt: {len(out)} lines, {len(text.encode())} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
