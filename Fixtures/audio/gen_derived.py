"""Audio files derived from the real clips in Fixtures/audio, for the Whisper transcription tests.

Run with the project's virtualenv:  python Fixtures/audio/gen_derived.py   (or import it and call main(audio_dir)).
It reads Fixtures/audio/{arctic_a0007,cards-001,cards-005}.wav (16 kHz mono PCM_16) and writes
Fixtures/audio/derived/:

- cards-001-48k.wav   cards-001 resampled to 48 kHz (soxr "soxr_hq"), PCM_16 WAV
- cards-005-8k.wav    cards-005 resampled to 8 kHz (soxr "soxr_hq"), PCM_16 WAV
- arctic_a0007.ogg    arctic_a0007 encoded as Ogg Vorbis by soundfile/libsndfile (format OGG, subtype VORBIS)
- speech-mix.flac     16 kHz mono PCM_16 FLAC, 42.0 s: the three clips with silences between, 4 times
- README.md           where each file comes from, its layout and licence, md5 of each file

Resampling: the clip is read as int16 and scaled by 1/32768 (float64), resampled with
`soxr.resample(x, 16000, rate, quality="soxr_hq")`, then quantized explicitly: round(y * 32768) clipped to
[-32768, 32767] and written as int16 (so libsndfile's float->short scaling, which multiplies by 32767 rather than
32768, never applies).

Ogg: libsndfile gives every Ogg stream a random serial number, so two writes differ in the serial and in every
page's CRC (nothing else). The writer fixes that: each page's serial is set to OGG_SERIAL and its CRC-32
(polynomial 0x04C11DB7, not reflected, initial value 0, computed with the CRC field zeroed) recomputed, so a
second run gives the same bytes. main() checks that the Vorbis payload of two independent encodes is identical
before the fix-up (it raises otherwise).

Deterministic: a second run rewrites the same bytes (checked with md5sum).
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

OGG_SERIAL = 0x6D6D6174  # "mmat", fixed stream serial number for the Ogg file

# speech-mix.flac: one cycle, repeated CYCLES times. Strings are clips (16 kHz), numbers are seconds of silence.
MIX_CYCLE = ["arctic_a0007.wav", 0.6, "cards-005.wav", 0.8, "cards-001.wav", 0.5]
MIX_CYCLES = 4

LICENCES = {
    "arctic_a0007.wav": "CMU ARCTIC free-use licence",
    "cards-001.wav": "BSD-2-Clause",
    "cards-005.wav": "BSD-2-Clause",
}


def read_int16(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(path, dtype="int16", always_2d=False)
    if samples.ndim != 1:
        raise SystemExit(f"error: {path}: expected mono, got shape {samples.shape}")
    return samples, rate


def resample_int16(samples: np.ndarray, rate: int, target: int) -> tuple[np.ndarray, int]:
    """Resampled int16 samples and how many had to be clipped."""
    x = samples.astype(np.float64) / 32768.0
    y = np.round(soxr.resample(x, rate, target, quality="soxr_hq") * 32768.0)
    clipped = int(((y < -32768) | (y > 32767)).sum())
    return np.clip(y, -32768, 32767).astype(np.int16), clipped


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
            r &= 0xFFFFFFFF
        table.append(r)
    return table


_CRC_TABLE = _ogg_crc_table()


def ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def ogg_pages(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every page; raises if the stream is not a clean sequence of pages."""
    pages, pos = [], 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {pos}")
        segments = data[pos + 26]
        body = sum(data[pos + 27 : pos + 27 + segments])
        length = 27 + segments + body
        pages.append((pos, length))
        pos += length
    return pages


def fix_ogg_serial(data: bytes, serial: int) -> bytes:
    out = bytearray(data)
    for offset, length in ogg_pages(data):
        out[offset + 14 : offset + 18] = serial.to_bytes(4, "little")
        out[offset + 22 : offset + 26] = b"\0\0\0\0"
        crc = ogg_crc(bytes(out[offset : offset + length]))
        out[offset + 22 : offset + 26] = crc.to_bytes(4, "little")
    return bytes(out)


def encode_vorbis(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="OGG", subtype="VORBIS")
    return buffer.getvalue()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def main(audio_dir=None) -> dict:
    audio = Path(audio_dir) if audio_dir is not None else Path(__file__).resolve().parent
    out = audio / "derived"
    out.mkdir(parents=True, exist_ok=True)
    clips = {name: read_int16(audio / name) for name in LICENCES}
    for name, (_, rate) in clips.items():
        if rate != 16000:
            raise SystemExit(f"error: {name}: expected 16 kHz, got {rate}")
    info: dict[str, dict] = {}

    # 1. Resampled WAVs.
    for name, source, target in (("cards-001-48k.wav", "cards-001.wav", 48000), ("cards-005-8k.wav", "cards-005.wav", 8000)):
        samples = clips[source][0]
        y, clipped = resample_int16(samples, 16000, target)
        sf.write(out / name, y, target, format="WAV", subtype="PCM_16")
        info[name] = {
            "source": source,
            "how": f"soxr.resample(x, 16000, {target}, quality=\"soxr_hq\") on x = int16 / 32768 (float64), "
            f"round(y * 32768) clipped to int16, PCM_16 WAV; {y.size} samples ({y.size / target:.6f} s, "
            f"ceil({samples.size} * {target} / 16000) = {math.ceil(samples.size * target / 16000)}); "
            f"{clipped} sample(s) clipped to int16 (source range {samples.min()}..{samples.max()})",
        }

    # 2. Ogg Vorbis: two independent encodes must agree except for the random serial and the CRCs.
    arctic = clips["arctic_a0007.wav"][0]
    first, second = encode_vorbis(arctic, 16000), encode_vorbis(arctic, 16000)
    fixed_first, fixed_second = fix_ogg_serial(first, OGG_SERIAL), fix_ogg_serial(second, OGG_SERIAL)
    if fixed_first != fixed_second:
        raise SystemExit("error: two Vorbis encodes of arctic_a0007 differ beyond the stream serial number")
    (out / "arctic_a0007.ogg").write_bytes(fixed_first)
    sf.info(out / "arctic_a0007.ogg")  # libsndfile reads it back (CRCs valid)
    info["arctic_a0007.ogg"] = {
        "source": "arctic_a0007.wav",
        "how": "soundfile.write(int16 samples, 16000, format=\"OGG\", subtype=\"VORBIS\") (libsndfile "
        f"{sf.__libsndfile_version__} + libvorbis, default quality); raw encodes differ run to run only in the "
        f"random Ogg stream serial and page CRCs: serial set to 0x{OGG_SERIAL:08X}, CRCs recomputed; "
        f"{len(ogg_pages(fixed_first))} pages",
    }

    # 3. speech-mix.flac: the cycle repeated; every clip sample is copied unchanged.
    parts, layout, pos = [], [], 0
    for _ in range(MIX_CYCLES):
        for item in MIX_CYCLE:
            if isinstance(item, str):
                piece = clips[item][0]
                layout.append({"clip": item, "start": pos, "end": pos + piece.size})
            else:
                piece = np.zeros(round(item * 16000), np.int16)
            parts.append(piece)
            pos += piece.size
    mix = np.concatenate(parts)
    sf.write(out / "speech-mix.flac", mix, 16000, format="FLAC", subtype="PCM_16")
    crossing = [s for s in layout if s["start"] < 480000 < s["end"]]
    lines = [f"{s['clip']} {s['start'] / 16000:.4f}-{s['end'] / 16000:.4f} s" for s in layout]
    info["speech-mix.flac"] = {
        "source": "arctic_a0007.wav, cards-005.wav, cards-001.wav",
        "how": f"16 kHz mono PCM_16 FLAC, {mix.size} samples ({mix.size / 16000:.6f} s): {MIX_CYCLES} x "
        f"[arctic_a0007, 0.6 s silence, cards-005, 0.8 s silence, cards-001, 0.5 s silence] (digital zeros, "
        f"samples copied unchanged); speech at " + "; ".join(lines)
        + ("; the 30 s boundary (sample 480000) falls inside " + crossing[0]["clip"] if crossing else ""),
        "layout": layout,
    }

    # 4. README.md.
    rows = []
    for name in ("cards-001-48k.wav", "cards-005-8k.wav", "arctic_a0007.ogg", "speech-mix.flac"):
        entry = info[name]
        sources = [s.strip() for s in entry["source"].split(",")]
        licence = "; ".join(sorted({LICENCES[s] for s in sources}))
        entry["md5"] = md5(out / name)
        entry["bytes"] = (out / name).stat().st_size
        rows.append(f"| {name} | {entry['source']} | {entry['how']} | {licence} (as the source clips, see ../SOURCES.md) | `{entry['md5']}` |")
    text = "\n".join([
        "# Derived audio",
        "",
        "Made from the real clips in `Fixtures/audio` by `Fixtures/audio/gen_derived.py` (run it again to",
        "rewrite the same bytes). Nothing here is a new recording; each file keeps the licence of the clip(s)",
        "it comes from (`Fixtures/audio/SOURCES.md`).",
        "",
        "| file | derived from | how | licence | md5 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Made with soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__}), soxr {soxr.__version__} "
        f"(libsoxr {soxr.__libsoxr_version__}), numpy {np.__version__}.",
        "",
    ])
    (out / "README.md").write_text(text)
    for name in ("cards-001-48k.wav", "cards-005-8k.wav", "arctic_a0007.ogg", "speech-mix.flac"):
        print(f"{name}: {info[name]['bytes']} bytes, md5 {info[name]['md5']}")
    return info


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
