"""Reference outputs for mmattn's long-form audio: Whisper's unpadded log-mel of a > 30 s signal and
multi-step soxr resampling.

Run with the project's virtualenv:  python Fixtures/gen_long_audio.py [OUT_DIR]   (OUT_DIR defaults to Fixtures)
It reads the clips in OUT_DIR/audio and writes OUT_DIR/reference/long-audio (about 0.5 MB).

The signal is "speech-mix": 4 x [arctic_a0007, 0.6 s of zeros, cards-005, 0.8 s of zeros, cards-001,
0.5 s of zeros], 671864 samples at 16 kHz (41.99 s), the clips decoded with soundfile (float32, k / 32768).
It is the signal of Fixtures/audio/derived/speech-mix.flac (a lossless FLAC of the same samples); it is
built here from the clips so the references do not depend on that file, and checked against it when the
file is present. The Swift tests build it the same way.

References come from the real implementations:
- features: transformers' WhisperFeatureExtractor(x, sampling_rate=16000, truncation=False,
  padding="longest", return_attention_mask=True), the input of long-form generate(), with its torch.stft
  path; stored strided (every 5th frame at 80 bins, every 25th at 128) plus whole frames around the
  ends and the 30 s boundary;
- frame counts (and attention-mask sums) for chosen lengths from the same call on seeded noise;
- resampling: soxr.resample(x, 16000, rate, quality="soxr_hq") cut or padded to ceil(n * rate / 16000),
  as transformers' load_audio does, at 44.1 kHz (39 soxr steps) and 8 kHz (7 steps); every 97th sample.
"""

import json
import math
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_audio import _decode, _save  # noqa: E402  (soundfile decode as transformers, float32 .npy)

CLIPS = ("arctic_a0007.wav", "cards-005.wav", "cards-001.wav")
GAPS = (9600, 12800, 8000)  # zeros after each clip: 0.6 s, 0.8 s, 0.5 s at 16 kHz
REPEATS = 4
STRIDE_80 = 5
STRIDE_128 = 25
RESAMPLE_STRIDE = 97
FRAME_COUNT_LENGTHS = (201, 320, 399, 400, 479_999, 480_000, 480_001, 480_160, 480_161, 671_864)


def speech_mix(clips_dir):
    parts = []
    for _ in range(REPEATS):
        for name, gap in zip(CLIPS, GAPS):
            samples, rate = _decode(os.path.join(clips_dir, name))
            assert rate == 16000, name
            parts += [samples, np.zeros(gap, np.float32)]
    return np.concatenate(parts)


def main(out_dir="Fixtures"):
    import soundfile as sf
    import soxr
    import torch
    import transformers
    from transformers import WhisperFeatureExtractor
    from transformers.utils import is_torch_available

    clips = os.path.join(out_dir, "audio")
    ref = os.path.join(out_dir, "reference", "long-audio")
    os.makedirs(ref, exist_ok=True)
    sizes = {}
    x = speech_mix(clips)
    summary = {"signal": {"count": int(x.size), "sum": float(x.astype(np.float64).sum()),
                          "sum_of_squares": float((x.astype(np.float64) ** 2).sum())}}
    derived = os.path.join(clips, "derived", "speech-mix.flac")
    if os.path.exists(derived):
        flac, rate = _decode(derived)
        summary["signal"]["equals_derived_speech_mix_flac"] = bool(rate == 16000 and np.array_equal(flac, x))

    def long_form(samples, feature_size):
        fe = WhisperFeatureExtractor(feature_size=feature_size)
        out = fe(samples, sampling_rate=16000, truncation=False, padding="longest", return_attention_mask=True,
                 return_tensors="np")
        return out["input_features"][0], int(out["attention_mask"].sum())

    w80, mask80 = long_form(x, 80)
    frames = w80.shape[1]
    assert frames == x.size // 160 == mask80
    # The peak the floor is relative to: recomputed from the torch path's log-mel before the floor.
    fe = WhisperFeatureExtractor(feature_size=80)
    wave = torch.from_numpy(x[None])
    stft = torch.stft(wave, fe.n_fft, fe.hop_length, window=torch.hann_window(fe.n_fft), return_complex=True)
    mel = torch.from_numpy(fe.mel_filters).to(torch.float32).T @ (stft[..., :-1].abs() ** 2)
    peak = float(torch.clamp(mel, min=1e-10).log10().max())
    sizes["whisper80_strided5.npy"] = _save(os.path.join(ref, "whisper80_strided5.npy"), w80[:, ::STRIDE_80])
    sizes["whisper80_head40.npy"] = _save(os.path.join(ref, "whisper80_head40.npy"), w80[:, :40])
    sizes["whisper80_tail40.npy"] = _save(os.path.join(ref, "whisper80_tail40.npy"), w80[:, -40:])
    sizes["whisper80_2990_3010.npy"] = _save(os.path.join(ref, "whisper80_2990_3010.npy"), w80[:, 2990:3010])
    w128, mask128 = long_form(x, 128)
    sizes["whisper128_strided25.npy"] = _save(os.path.join(ref, "whisper128_strided25.npy"), w128[:, ::STRIDE_128])
    summary["whisper"] = {
        "frames": frames, "attention_mask_sum": mask80, "stride_80": STRIDE_80, "stride_128": STRIDE_128,
        "peak_log10_80": peak, "floor_value_80": float((peak - 8 + 4) / 4),
        "min_80": float(w80.min()), "max_80": float(w80.max()), "mean_80": float(w80.astype(np.float64).mean()),
        "min_128": float(w128.min()), "mean_128": float(w128.astype(np.float64).mean()),
        "frames_128": int(w128.shape[1]), "attention_mask_sum_128": mask128,
    }

    rng = np.random.default_rng(0)
    counts = {}
    for n in FRAME_COUNT_LENGTHS:
        noise = rng.uniform(-0.5, 0.5, n).astype(np.float32)
        fe80 = WhisperFeatureExtractor()
        out = fe80(noise, sampling_rate=16000, truncation=False, padding="longest", return_attention_mask=True,
                   return_tensors="np")
        counts[str(n)] = {"frames": int(out["input_features"].shape[-1]), "attention_mask_sum": int(out["attention_mask"].sum())}
    summary["frame_counts"] = counts

    resampled = {}
    for rate in (44_100, 8_000):
        y = soxr.resample(x, 16000, rate, quality="soxr_hq")
        wanted = math.ceil(x.size * rate / 16000)
        y = np.pad(y, (0, max(0, wanted - y.size)))[:wanted].astype(np.float32)
        name = f"speech_mix_soxr_hq_{rate}_strided{RESAMPLE_STRIDE}.npy"
        sizes[name] = _save(os.path.join(ref, name), y[::RESAMPLE_STRIDE])
        resampled[str(rate)] = {"count": int(y.size), "sum": float(y.astype(np.float64).sum()), "file": name}
    summary["resampled"] = resampled
    summary["resample_stride"] = RESAMPLE_STRIDE

    summary["versions"] = {
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "transformers": transformers.__version__, "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__,
        "whisper_features_path": "torch.stft" if is_torch_available() else "numpy",
    }
    path = os.path.join(ref, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    sizes["summary.json"] = os.path.getsize(path)
    total = sum(sizes.values())
    print(f"wrote {len(sizes)} files, {total / 1e6:.2f} MB, to {ref}")
    assert total < 1_000_000
    return summary


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Fixtures")
