"""Reference outputs for mmattn's audio front-end (decoding, resampling, Whisper log-mel, AST fbank).

Run with the project's virtualenv:  python Fixtures/gen_audio.py [OUT_DIR]   (OUT_DIR defaults to Fixtures)
or import it and call main(out_dir). It reads the clips in OUT_DIR/audio and writes OUT_DIR/reference/audio.

References come from the real implementations:
- decoding: soundfile (libsndfile), channels averaged, as transformers' load_audio does;
- resampling: the `soxr` package, quality "soxr_hq", length fixed to ceil(n * out / in) as load_audio does;
- Whisper: transformers' WhisperFeatureExtractor (its torch.stft path when torch is installed);
- AST: transformers' ASTFeatureExtractor with torchaudio.compliance.kaldi.fbank. When torchaudio cannot be
  imported (no build matches the installed torch), the kaldi module's source is taken from the torchaudio
  wheel (downloaded with pip into a cache folder) and run on the installed torch: it is pure torch code.
  If that fails too, transformers' NumPy fallback is used. versions.json records which path ran.
- Whisper's own mel bank: whisper/assets/mel_filters.npz from the openai-whisper source archive.
"""

import importlib.util
import io
import json
import math
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile

import numpy as np

TORCHAUDIO_WHEEL_VERSION = "2.11.0"
WHISPER_SDIST_VERSION = "20250625"
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "mmattn-fixtures")

# Every Nth decoded sample is stored (plus count and sums) to check decoding without copying the clip.
DECODE_STRIDE = 37


def _save(path, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    np.save(path, array)
    return os.path.getsize(path)


def _pip_download(spec, dest, *extra):
    os.makedirs(dest, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest, *extra, spec], check=True)
    return dest


def _kaldi_module():
    """torchaudio.compliance.kaldi, from an importable torchaudio or from the wheel's source."""
    try:
        import torchaudio.compliance.kaldi as kaldi

        import torchaudio

        return kaldi, f"torchaudio {torchaudio.__version__} (imported)"
    except Exception as error:  # noqa: BLE001 - any failure means: take the source instead
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    try:
        folder = os.path.join(CACHE, "torchaudio")
        wheels = [f for f in os.listdir(folder) if f.startswith(f"torchaudio-{TORCHAUDIO_WHEEL_VERSION}-")] if os.path.isdir(folder) else []
        if not wheels:
            _pip_download(f"torchaudio=={TORCHAUDIO_WHEEL_VERSION}", folder)
            wheels = [f for f in os.listdir(folder) if f.startswith(f"torchaudio-{TORCHAUDIO_WHEEL_VERSION}-")]
        with zipfile.ZipFile(os.path.join(folder, wheels[0])) as wheel:
            source = wheel.read("torchaudio/compliance/kaldi.py").decode()
        # kaldi.py imports torchaudio only for mfcc's DCT; fbank needs torch alone.
        stub = types.ModuleType("torchaudio")
        saved = sys.modules.get("torchaudio")
        sys.modules["torchaudio"] = stub
        try:
            module = types.ModuleType("torchaudio_compliance_kaldi")
            exec(compile(source, f"{wheels[0]}:torchaudio/compliance/kaldi.py", "exec"), module.__dict__)
        finally:
            if saved is None:
                del sys.modules["torchaudio"]
            else:
                sys.modules["torchaudio"] = saved
        return module, f"torchaudio {TORCHAUDIO_WHEEL_VERSION} compliance/kaldi.py from the wheel, run on the installed torch (import failed: {reason})"
    except Exception as error:  # noqa: BLE001
        return None, f"transformers NumPy fallback (torchaudio unavailable: {reason}; wheel source: {error})"


def _whisper_mel_filters():
    folder = os.path.join(CACHE, "openai-whisper")
    name = f"openai_whisper-{WHISPER_SDIST_VERSION}.tar.gz"
    if not os.path.exists(os.path.join(folder, name)):
        _pip_download(f"openai-whisper=={WHISPER_SDIST_VERSION}", folder, "--no-binary", ":all:")
    with tarfile.open(os.path.join(folder, name)) as archive:
        member = archive.extractfile(f"openai_whisper-{WHISPER_SDIST_VERSION}/whisper/assets/mel_filters.npz")
        with np.load(io.BytesIO(member.read())) as banks:
            return {k: banks[k] for k in banks.files}


def _decode(path):
    """soundfile decode, channels averaged: transformers' _load_audio_soundfile before resampling."""
    import soundfile as sf

    with sf.SoundFile(path) as f:
        rate = f.samplerate
        waveform = f.read(dtype="float32", always_2d=True).T
    mono = waveform.mean(axis=0) if waveform.shape[0] > 1 else waveform[0]
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _resample(samples, source_rate, target_rate):
    """transformers' load_audio resampling: soxr_hq, then padded or cut to ceil(n * target / source)."""
    import soxr

    count = math.ceil(samples.shape[-1] * target_rate / source_rate)
    out = soxr.resample(samples, source_rate, target_rate, quality="soxr_hq")
    return np.pad(out, (0, max(0, count - len(out))))[:count].astype(np.float32)


def main(out_dir="Fixtures"):
    import soundfile as sf
    import soxr
    import torch
    import transformers
    from transformers import ASTFeatureExtractor, WhisperFeatureExtractor
    from transformers.models.audio_spectrogram_transformer import feature_extraction_audio_spectrogram_transformer as ast_module

    clips = os.path.join(out_dir, "audio")
    ref = os.path.join(out_dir, "reference", "audio")
    os.makedirs(ref, exist_ok=True)
    sizes = {}
    summary = {"decode_stride": DECODE_STRIDE, "decoded": {}}

    # Decoding: every clip summarised, every DECODE_STRIDE-th sample stored; bell.oga (tiny) stored whole below,
    # since its decode also feeds the resampler check.
    decoded = {}
    for name in sorted(os.listdir(clips)):
        if not name.endswith((".wav", ".oga", ".flac")):
            continue
        samples, rate = _decode(os.path.join(clips, name))
        decoded[name] = (samples, rate)
        stem = os.path.splitext(name)[0]
        summary["decoded"][name] = {
            "sample_rate": rate,
            "count": int(samples.size),
            "sum": float(samples.astype(np.float64).sum()),
            "sum_of_squares": float((samples.astype(np.float64) ** 2).sum()),
        }
        if name != "bell.oga":
            sizes[f"decoded_{stem}_strided.npy"] = _save(os.path.join(ref, f"decoded_{stem}_strided.npy"), samples[::DECODE_STRIDE])

    bell, bell_rate = decoded["bell.oga"]
    sizes["bell_mono_44100.npy"] = _save(os.path.join(ref, "bell_mono_44100.npy"), bell)
    bell16 = _resample(bell, bell_rate, 16000)
    sizes["bell_soxr_hq_16000.npy"] = _save(os.path.join(ref, "bell_soxr_hq_16000.npy"), bell16)

    # Whisper log-mel. A 4 s clip covers frames 0..400; later frames all hold the floor value.
    def whisper(samples, feature_size):
        fe = WhisperFeatureExtractor(feature_size=feature_size)
        out = fe(samples, sampling_rate=16000, return_tensors="np")["input_features"][0]
        numpy_path = fe._np_extract_fbank_features(
            np.pad(samples, (0, max(0, fe.n_samples - samples.size)))[None, : fe.n_samples], "cpu"
        )[0]
        return out, float(np.abs(out - numpy_path).max())

    whisper_cases = {}
    arctic = decoded["arctic_a0007.wav"][0]
    w80, w80_numpy = whisper(arctic, 80)
    keep = 416
    sizes["whisper80_arctic_a0007_first416.npy"] = _save(os.path.join(ref, "whisper80_arctic_a0007_first416.npy"), w80[:, :keep])
    whisper_cases["whisper80_arctic_a0007"] = {
        "clip": "arctic_a0007.wav", "feature_size": 80, "stored_frames": keep,
        "tail_value": float(w80[0, -1]), "tail_constant": bool((w80[:, keep:] == w80[0, -1]).all()),
        "max": float(w80.max()), "mean": float(w80.astype(np.float64).mean()),
        "max_abs_diff_torch_vs_numpy_path": w80_numpy,
    }

    cards5 = decoded["cards-005.wav"][0]
    w128, w128_numpy = whisper(cards5, 128)
    keep = 360
    sizes["whisper128_cards-005_first360.npy"] = _save(os.path.join(ref, "whisper128_cards-005_first360.npy"), w128[:, :keep])
    whisper_cases["whisper128_cards-005"] = {
        "clip": "cards-005.wav", "feature_size": 128, "stored_frames": keep,
        "tail_value": float(w128[0, -1]), "tail_constant": bool((w128[:, keep:] == w128[0, -1]).all()),
        "max": float(w128.max()), "mean": float(w128.astype(np.float64).mean()),
        "max_abs_diff_torch_vs_numpy_path": w128_numpy,
    }

    # A full 30 s window of real audio (arctic_a0007 repeated, cut to 480000 samples): no zero padding, so
    # the reflect padding at the end reaches real samples. Stored: the first and the last 40 frames.
    full = np.tile(arctic, math.ceil(480000 / arctic.size))[:480000]
    wfull, wfull_numpy = whisper(full, 80)
    sizes["whisper80_tiled30s_head40.npy"] = _save(os.path.join(ref, "whisper80_tiled30s_head40.npy"), wfull[:, :40])
    sizes["whisper80_tiled30s_tail40.npy"] = _save(os.path.join(ref, "whisper80_tiled30s_tail40.npy"), wfull[:, -40:])
    whisper_cases["whisper80_tiled30s"] = {
        "clip": "arctic_a0007.wav tiled to 480000 samples", "feature_size": 80,
        "max": float(wfull.max()), "mean": float(wfull.astype(np.float64).mean()),
        "max_abs_diff_torch_vs_numpy_path": wfull_numpy,
    }
    summary["whisper"] = whisper_cases

    # Transformers' attention mask for Whisper: frames that cover real audio.
    fe = WhisperFeatureExtractor()
    summary["whisper_valid_frames"] = {
        str(n): int(fe(np.zeros(n, np.float32) + 0.1, sampling_rate=16000, return_attention_mask=True,
                       return_tensors="np")["attention_mask"].sum())
        for n in (1, 159, 160, 161, 64000, 479999, 480000, 500000)
    }

    # Whisper's own 80-bin bank (librosa-made, float32).
    banks = _whisper_mel_filters()
    sizes["whisper_mel_filters_80.npy"] = _save(os.path.join(ref, "whisper_mel_filters_80.npy"), banks["mel_80"])
    summary["whisper_mel_80_vs_transformers_max_abs_diff"] = float(
        np.abs(banks["mel_80"] - WhisperFeatureExtractor(feature_size=80).mel_filters.T).max()
    )

    # AST: kaldi fbank through transformers' ASTFeatureExtractor.
    kaldi, kaldi_source = _kaldi_module()
    cards1 = decoded["cards-001.wav"][0]
    # transformers' NumPy fallback, for the record (it is what runs where torchaudio is missing).
    ast_module.is_speech_available = lambda: False
    numpy_fbank = ASTFeatureExtractor(num_mel_bins=128, max_length=1024, do_normalize=False)._extract_fbank_features(cards1, 1024)
    ast_module.is_speech_available = lambda: kaldi is not None
    if kaldi is not None:
        ast_module.ta_kaldi = kaldi
    raw = ASTFeatureExtractor(num_mel_bins=128, max_length=1024, do_normalize=False)(cards1, sampling_rate=16000, return_tensors="np")["input_values"][0]
    normalized_fe = ASTFeatureExtractor(num_mel_bins=128, max_length=1024)
    normalized = normalized_fe(cards1, sampling_rate=16000, return_tensors="np")["input_values"][0]
    short = ASTFeatureExtractor(num_mel_bins=128, max_length=100)(cards1, sampling_rate=16000, return_tensors="np")["input_values"][0]
    frames = 1 + (cards1.size - 400) // 160
    sizes["ast_fbank128_cards-001.npy"] = _save(os.path.join(ref, "ast_fbank128_cards-001.npy"), raw[:frames])
    sizes["ast_features128_cards-001_first8.npy"] = _save(os.path.join(ref, "ast_features128_cards-001_first8.npy"), normalized[:8])
    sizes["ast_features128_max100_cards-001_last8.npy"] = _save(os.path.join(ref, "ast_features128_max100_cards-001_last8.npy"), short[-8:])
    summary["ast"] = {
        "clip": "cards-001.wav", "num_mel_bins": 128, "max_length": 1024, "frames": frames,
        "kaldi_source": kaldi_source,
        "padding_rows_zero": bool((raw[frames:] == 0).all()),
        "normalized_padding_value": float(normalized[-1, 0]),
        "normalized_mean": float(normalized.astype(np.float64).mean()),
        "mean": normalized_fe.mean, "std": normalized_fe.std,
        "max_abs_diff_torchaudio_vs_numpy_path": float(np.abs(raw[:frames] - numpy_fbank[:frames]).max()) if kaldi is not None else None,
    }

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "soundfile": sf.__version__,
        "libsndfile": sf.__libsndfile_version__,
        "soxr": soxr.__version__,
        "libsoxr": soxr.__libsoxr_version__,
        "kaldi_fbank": kaldi_source,
        "whisper_mel_filters": f"openai-whisper {WHISPER_SDIST_VERSION} sdist, whisper/assets/mel_filters.npz",
    }
    summary["versions"] = versions
    sizes["summary.json"] = 0
    path = os.path.join(ref, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
    sizes["summary.json"] = os.path.getsize(path)
    total = sum(sizes.values())
    print(f"audio references: {len(sizes)} files, {total / 1024:.0f} KiB in {ref}")
    print(f"  AST kaldi fbank: {kaldi_source}")
    return summary


def _bench():
    """Timings of the Python references on this machine (30 s log-mel; AST fbank on 10.24 s)."""
    import timeit

    import torch
    from transformers import WhisperFeatureExtractor

    rng = np.random.default_rng(0)
    x30 = (rng.standard_normal(480000) * 0.1).astype(np.float32)
    fe = WhisperFeatureExtractor()
    batch = fe.pad({"input_features": [x30[:, None]]}, max_length=480000, padding="max_length", return_tensors="np")
    waveform = batch["input_features"].transpose(2, 0, 1)[0]

    def best(fn, n):
        return min(timeit.repeat(fn, number=1, repeat=n)) * 1e3

    print(f"whisper numpy extractor, 30 s: {best(lambda: fe._np_extract_fbank_features(waveform, 'cpu'), 5):.2f} ms")
    print(f"whisper full __call__ (torch path, {torch.get_num_threads()} threads), 30 s: "
          f"{best(lambda: fe(x30, sampling_rate=16000, return_tensors='np'), 20):.2f} ms")
    torch.set_num_threads(1)
    print(f"whisper torch extractor (1 thread), 30 s: {best(lambda: fe._torch_extract_fbank_features(waveform, 'cpu'), 20):.2f} ms")
    t = torch.from_numpy(x30)
    window = torch.hann_window(400)
    print(f"torch.stft alone (1 thread), 30 s: {best(lambda: torch.stft(t, 400, 160, window=window, return_complex=True), 20):.2f} ms")
    kaldi, source = _kaldi_module()
    if kaldi is not None:
        x10 = torch.from_numpy(x30[:163840].copy())[None]
        print(f"kaldi fbank (1 thread), 10.24 s, 1022 frames x 128: "
              f"{best(lambda: kaldi.fbank(x10, sample_frequency=16000, window_type='hanning', num_mel_bins=128), 20):.2f} ms  [{source.split(' (')[0]}]")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bench":
        _bench()
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__))))
