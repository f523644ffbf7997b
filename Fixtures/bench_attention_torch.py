"""PyTorch's attention on the shapes of `mmattn bench attention`, printed as JSON.

    python Fixtures/bench_attention_torch.py [--seq 128,256,...] [--heads 12] [--kv-heads G] [--head-dim 64]
                                             [--causal] [--window W] [--threads 2] [--runs N] [--impl sdpa,eager]

One attention call on q [1, H, T, D], k and v [1, G, T, D], float32, batch 1, inference mode,
`torch.set_num_threads(2)` by default (the mmattn default is all cores: give both the same count).

- `sdpa`: `torch.nn.functional.scaled_dot_product_attention`. Grouped-query attention (G < H) passes
  `enable_gqa=True`; `--causal` passes `is_causal=True`; a window W passes a boolean mask of T x T
  (True = attend), which is what transformers builds for sliding-window layers on the CPU with SDPA
  (`masking_utils.sdpa_mask`; with a mask it also expands k and v with `repeat_kv` instead of
  `enable_gqa`, which this script does not copy). That mask **materialises T x T booleans** (64 MiB at
  8192, 256 MiB at 16384) and PyTorch turns it into a float additive mask of T x T inside the call (4
  bytes each), so the windowed numbers include the cost of a full-size mask that the window makes
  unnecessary. The mask is built once per length before the timed calls, not timed, but counted in
  the memory (`mask_bytes` says its size).
- `eager`: what transformers' `eager_attention_forward` does: `q @ k^T * D^-0.5`, plus an additive
  float mask of T x T (0 / float32 min) for causal or window, `softmax(dim=-1)`, `@ v`; k and v are
  expanded to H heads with `repeat_interleave` for G < H. It materialises the [H, T, T] scores and the
  probabilities: lengths where that exceeds `--eager-max-bytes` are skipped (null).

Window convention (the CONTRACT's, also transformers'): causal window W = keys i-W+1 ... i;
not causal = keys j with |i - j| <= W / 2 (ModernBERT's `local_attention` 128 = 64 each side).

FLOPs as the CONTRACT counts them: 4 T^2 D H, halved for causal; with a window, 4 T W D H (causal or
not). `gflops` = those FLOPs / median time.

Time: one warm-up call, then as many timed calls as fit in `--budget` seconds (at least
`--min-runs`, at most `--max-runs`; `--runs` fixes the count); `ms` is the median.

Memory: `extra_bytes` is the peak resident memory during the calls minus the resident memory once
q, k and v exist (so it includes the output [1, H, T, D], `output_bytes`, the mask, and whatever the
kernel allocates). PyTorch's CPU allocator keeps no statistics, so it is measured from the kernel's
counters: Linux's peak RSS (`VmHWM` in /proc/self/status), reset before each length by writing 5 to
/proc/self/clear_refs (`memory_method` in the output). Where that reset is not allowed, it falls back
to `resource.getrusage(RUSAGE_SELF).ru_maxrss` growth, which only shows growth beyond the earlier
peak (lengths run in increasing order, so it is right for the largest length and a lower bound
elsewhere). psutil is not used (not installed). Either way it is the growth of resident memory:
blocks that malloc reuses from memory freed earlier in the process do not show, so a few MiB at
short lengths read as 0; large blocks (the T x T scores, the mask, outputs past the mmap threshold)
are fresh mappings and do show.

Also measured in the same run: fp32 sgemm GFLOP/s of torch.matmul on 2048 x 2048 x 2048
(2 N^3 FLOPs, median of 10 after 2 warm-ups), as `sgemm_gflops`.

Output: one JSON object on stdout, the keys of `mmattn bench attention --json`
(`sgemm_gflops`, `results` with `seq`, `causal`, `ms`, `gflops`, `extra_bytes`, `naive_gflops`)
plus `impl`, `torch`, `threads`, `loadavg` and the shape. Each result row has its `impl`;
`naive_gflops` of an sdpa row is the eager row's GFLOP/s at that length when eager ran (the
materialising baseline), else null. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DEFAULT_SEQ = "128,256,512,1024,2048,4096,8192,16384"


class PeakMemory:
    """Peak resident bytes since `reset()`, from /proc/self/status (VmHWM) or ru_maxrss."""

    def __init__(self) -> None:
        self.method = "ru_maxrss"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._status("VmHWM")
            self.method = "VmHWM reset via /proc/self/clear_refs"
        except OSError:
            pass

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) * 1024

    def current(self) -> int:
        if self.method == "ru_maxrss":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self._status("VmRSS")

    def reset(self) -> None:
        if self.method != "ru_maxrss":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")

    def peak(self) -> int:
        if self.method == "ru_maxrss":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self._status("VmHWM")


def window_mask(t: int, window: int, causal: bool) -> torch.Tensor:
    """[T, T] booleans, True where query i may attend key j."""
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    if causal:
        return (j <= i) & (j > i - window)
    # |i - j| <= W/2 without a T x T integer intermediate (it would count as extra memory).
    return (j >= i - window // 2) & (j <= i + window // 2)


def causal_mask(t: int) -> torch.Tensor:
    i = torch.arange(t)
    return i[None, :] <= i[:, None]


def flops(t: int, heads: int, head_dim: int, causal: bool, window: int | None) -> float:
    if window is not None:
        return 4.0 * t * window * head_dim * heads
    total = 4.0 * t * t * head_dim * heads
    return total / 2 if causal else total


def sgemm_gflops(n: int = 2048, runs: int = 10) -> float:
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(2):
        torch.matmul(a, b, out=c)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        torch.matmul(a, b, out=c)
        times.append(time.perf_counter() - start)
    return 2.0 * n**3 / statistics.median(times) / 1e9


def make_call(impl: str, q, k, v, causal: bool, window: int | None):
    """Return (fn, mask_bytes); the mask, if any, is built here (once)."""
    heads, kv_heads, t, head_dim = q.shape[1], k.shape[1], q.shape[2], q.shape[3]
    gqa = kv_heads != heads
    if impl == "sdpa":
        if window is not None:
            mask = window_mask(t, window, causal)
            return (lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)), mask.nbytes
        return (lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=gqa)), 0
    # eager, as transformers' eager_attention_forward: repeat_kv, matmul, additive mask, softmax, matmul.
    scale = head_dim**-0.5
    additive = None
    if window is not None or causal:
        allowed = window_mask(t, window, causal) if window is not None else causal_mask(t)
        additive = torch.zeros(t, t).masked_fill_(~allowed, torch.finfo(torch.float32).min)
        del allowed

    def eager():
        kk = k.repeat_interleave(heads // kv_heads, dim=1) if gqa else k
        vv = v.repeat_interleave(heads // kv_heads, dim=1) if gqa else v
        scores = torch.matmul(q, kk.transpose(2, 3)) * scale
        if additive is not None:
            scores = scores + additive
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
        del scores
        return torch.matmul(probs, vv)

    return eager, 0 if additive is None else additive.nbytes


def eager_bytes(t: int, heads: int, kv_heads: int, head_dim: int, masked: bool) -> int:
    """Rough peak of the eager path: scores + probabilities (+ the mask and the scores plus mask)."""
    square = heads * t * t * 4
    expanded = 2 * heads * t * head_dim * 4 if kv_heads != heads else 0
    return 2 * square + (square + t * t * 4 if masked else 0) + expanded


def bench_one(impl: str, t: int, args, memory: PeakMemory) -> dict:
    heads, kv_heads, head_dim = args.heads, args.kv_heads, args.head_dim
    row = {"seq": t, "causal": args.causal, "impl": impl, "ms": None, "gflops": None, "extra_bytes": None,
           "naive_gflops": None}
    if args.window is not None:
        row["window"] = args.window
    masked = args.causal or args.window is not None
    if impl == "eager" and eager_bytes(t, heads, kv_heads, head_dim, masked) > args.eager_max_bytes:
        row["skipped"] = (f"eager needs about {eager_bytes(t, heads, kv_heads, head_dim, masked) / 2**30:.1f} GiB "
                          f"(> --eager-max-bytes {args.eager_max_bytes / 2**30:.1f} GiB)")
        return row
    generator = torch.Generator().manual_seed(t)
    q = torch.randn(1, heads, t, head_dim, generator=generator)
    k = torch.randn(1, kv_heads, t, head_dim, generator=generator)
    v = torch.randn(1, kv_heads, t, head_dim, generator=generator)
    gc.collect()
    baseline = memory.current()
    memory.reset()
    fn, mask_bytes = make_call(impl, q, k, v, args.causal, args.window)
    start = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - start
    del out
    runs = args.runs or max(args.min_runs, min(args.max_runs, int(args.budget / max(warm, 1e-6))))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        del out
    peak = memory.peak()
    del fn
    median = statistics.median(times)
    row.update({
        "ms": round(1e3 * median, 3),
        "min_ms": round(1e3 * min(times), 3),
        "runs": runs,
        "gflops": round(flops(t, heads, head_dim, args.causal, args.window) / median / 1e9, 2),
        "extra_bytes": max(0, peak - baseline),
        "output_bytes": heads * t * head_dim * 4,
        "mask_bytes": mask_bytes,
    })
    if impl == "sdpa":
        row["backend"] = ["math", "flash", "efficient", "cudnn", "overrideable"][torch._fused_sdp_choice(
            q, k, v, None if args.window is None else torch.ones(1, 1, dtype=torch.bool).expand(t, t),
            0.0, args.causal and args.window is None, enable_gqa=kv_heads != heads)]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq", default=DEFAULT_SEQ, help="comma-separated lengths")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--kv-heads", type=int, default=None, help="key/value heads (default: --heads)")
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--impl", default="sdpa", help="comma-separated: sdpa, eager")
    parser.add_argument("--runs", type=int, default=None, help="timed calls per length (default: by --budget)")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds of timed calls per length")
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=50)
    parser.add_argument("--eager-max-bytes", type=float, default=14 * 2**30,
                        help="skip eager where its scores and probabilities would exceed this (bytes)")
    args = parser.parse_args()
    args.kv_heads = args.kv_heads or args.heads
    if args.heads % args.kv_heads:
        parser.error("--heads must be a multiple of --kv-heads")
    impls = args.impl.split(",")
    if any(i not in ("sdpa", "eager") for i in impls):
        parser.error("--impl takes sdpa and/or eager")
    lengths = sorted(int(s) for s in args.seq.split(","))

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    memory = PeakMemory()
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"load average {load_before}; sgemm ...", file=sys.stderr)
    gemm = sgemm_gflops()
    results = []
    for t in lengths:
        rows = {}
        for impl in impls:
            rows[impl] = bench_one(impl, t, args, memory)
            r = rows[impl]
            print(f"T={t} {impl}: {r['ms']} ms, {r['gflops']} GFLOP/s, extra {r['extra_bytes']} B"
                  + (f" ({r['skipped']})" if "skipped" in r else ""), file=sys.stderr)
        if "sdpa" in rows and "eager" in rows:
            rows["sdpa"]["naive_gflops"] = rows["eager"]["gflops"]
        results += rows.values()
    output = {
        "sgemm_gflops": round(gemm, 2),
        "results": results,
        "impl": impls,
        "heads": args.heads,
        "kv_heads": args.kv_heads,
        "head_dim": args.head_dim,
        "causal": args.causal,
        "window": args.window,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "memory_method": memory.method,
        # Other processes on the machine skew every number: these say how busy it was.
        "loadavg": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
    }
    print(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
