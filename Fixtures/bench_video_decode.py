"""Time PyAV reading sampled frames the way transformers' docs do, to compare with mmattn's decoder.

    python Fixtures/bench_video_decode.py VIDEO [--frames 8,16] [--runs 5]

For each K: open the file, count its frames (the container's stated count, as the docs do, or
decoding when it states none), then `read_video_pyav` as in the VideoMAE / TimeSformer examples:
`container.seek(0)`, decode every frame up to the last sampled one, keep those at
`np.round(np.linspace(0, n - 1, K)).astype(int)` as rgb24 arrays.

Prints one JSON object with the keys `mmattn bench video VIDEO --json` prints, so the two compare
side by side: {"file", "frames_total", "results": [{"frames", "sampled_ms", "sequential_ms",
"decoded", "ratio"}]}, times the median of --runs runs after one warm-up, in milliseconds. PyAV's
sampled read is itself the sequential one, so `sampled_ms` and `sequential_ms` are the same runs,
`decoded` is the last sampled index + 1 and `ratio` is 1. PyAV's and FFmpeg's versions go to stderr.
"""

import argparse
import json
import statistics
import sys
import time

import av
import numpy as np


def count_frames(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return stream.frames
        return sum(1 for _ in container.decode(video=0))


def read_video_pyav(container, indices):
    frames = []
    container.seek(0)
    start, end = indices[0], indices[-1]
    for i, frame in enumerate(container.decode(video=0)):
        if i > end:
            break
        if i >= start and i in indices:
            frames.append(frame)
    return np.stack([f.to_ndarray(format="rgb24") for f in frames])


def run(path, k):
    """Milliseconds to count the frames and read the K sampled ones, and the count."""
    t0 = time.perf_counter()
    n = count_frames(path)
    indices = np.round(np.linspace(0, n - 1, k)).astype(int)
    with av.open(path) as container:
        frames = read_video_pyav(container, indices)
    ms = (time.perf_counter() - t0) * 1e3
    assert frames.shape[0] == k
    return ms, n, int(indices[-1]) + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--frames", default="8,16", help="frames sampled per read, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is printed)")
    args = parser.parse_args()
    print(f"PyAV {av.__version__}, FFmpeg {getattr(av, 'ffmpeg_version_info', '?')}", file=sys.stderr)
    total, results = None, []
    for k in (int(x) for x in args.frames.split(",")):
        runs = [run(args.video, k) for _ in range(args.runs + 1)][1:]
        ms = statistics.median(r[0] for r in runs)
        total = runs[0][1]
        results.append({"frames": k, "sampled_ms": round(ms, 3), "sequential_ms": round(ms, 3),
                        "decoded": runs[0][2], "ratio": 1.0})
    print(json.dumps({"file": args.video, "frames_total": total, "results": results}))


if __name__ == "__main__":
    main()
