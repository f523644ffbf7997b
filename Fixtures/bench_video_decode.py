"""Time PyAV reading sampled frames the way transformers' docs do, to compare with mmattn's decoder.

    python Fixtures/bench_video_decode.py VIDEO [--k 8 16] [--repeat 3]

For each k: open the file, count its frames (the container's stated count, as the docs do, or
decoding when it states none), then `read_video_pyav` as in the VideoMAE / TimeSformer examples:
`container.seek(0)`, decode every frame up to the last sampled one, keep those at
`np.round(np.linspace(0, n - 1, k)).astype(int)` as rgb24 arrays. Prints one JSON object with
the best of `--repeat` runs in milliseconds.
"""

import argparse
import json
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
    t0 = time.perf_counter()
    n = count_frames(path)
    t1 = time.perf_counter()
    indices = np.round(np.linspace(0, n - 1, k)).astype(int)
    with av.open(path) as container:
        frames = read_video_pyav(container, indices)
    t2 = time.perf_counter()
    assert frames.shape[0] == k
    return {"k": k, "frames": n, "count_ms": (t1 - t0) * 1e3, "decode_ms": (t2 - t1) * 1e3, "total_ms": (t2 - t0) * 1e3}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--k", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = []
    for k in args.k:
        runs = [run(args.video, k) for _ in range(args.repeat)]
        results.append(min(runs, key=lambda r: r["total_ms"]))
    print(json.dumps({"av": av.__version__, "video": args.video, "results": results}))


if __name__ == "__main__":
    main()
