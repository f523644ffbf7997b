"""Reference frames for the video decoder's tests (VideoDecoderTests), decoded with PyAV.

Run from the repository root with a Python that has PyAV and numpy (never in CI):

    python Fixtures/gen_video_frames.py

For every clip in Fixtures/video it decodes all frames with `container.decode(video=0)` and
converts each with `frame.to_ndarray(format="rgb24")`, the way transformers' video examples read
clips. It writes to Fixtures/reference/video-frames/:

- `<clip>.npy`: uint8 [m, H, W, 3], the frames at the indices listed under "stored" in the
  manifest: the union of the sampling indices for k = 4 and k = 8, or every frame for the clips
  named in ALL_FRAMES;
- `manifest.json`: per clip the frame count, size, every frame's pts (presentation order), the
  sampling indices per k, the stored indices, and the versions of PyAV and of the FFmpeg
  libraries it bundles (which are not the FFmpeg mmattn links).

Sampling indices are `np.round(np.linspace(0, n - 1, k)).astype(int)`, as VideoMAE's and
TimeSformer's examples pick frames. numpy rounds halves to even (4.5 -> 4, 5.5 -> 6), so a
reimplementation must too; none of these clips' (n, k) pairs lands on a half, but the indices are
stored rather than recomputed by the tests.
"""

import json
import pathlib
import re

import av
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent
CLIPS = ["pan.mp4", "pan.mov", "zoom.webm", "fade.mkv", "pan.ts", "pan.avi"]
ALL_FRAMES = {"pan.mp4", "pan.ts", "pan.avi"}
KS = [4, 8]
OUT = ROOT / "reference" / "video-frames"


def decode(path):
    with av.open(str(path)) as container:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    return [p for p, _ in frames], [a for _, a in frames]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "Fixtures/gen_video_frames.py",
        "av": av.__version__,
        "ffmpeg_libraries": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "rounding": "np.round(np.linspace(0, n - 1, k)).astype(int): halves round to even",
        "clips": {},
    }
    for name in CLIPS:
        pts, frames = decode(ROOT / "video" / name)
        n = len(frames)
        samples = {str(k): np.round(np.linspace(0, n - 1, k)).astype(int).tolist() for k in KS}
        stored = list(range(n)) if name in ALL_FRAMES else sorted({i for v in samples.values() for i in v})
        np.save(OUT / f"{name}.npy", np.stack([frames[i] for i in stored]).astype(np.uint8))
        height, width, _ = frames[0].shape
        manifest["clips"][name] = {
            "frames": n,
            "width": width,
            "height": height,
            "pts": pts,
            "samples": samples,
            "stored": stored,
            "npy": f"{name}.npy",
        }
    text = json.dumps(manifest, indent=1)
    # Lists of numbers on one line each.
    text = re.sub(r"\[[\d,\s]*\]", lambda m: "[" + ", ".join(m.group(0)[1:-1].split()).replace(",,", ",") + "]", text)
    (OUT / "manifest.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
