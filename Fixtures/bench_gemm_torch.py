"""PyTorch GEMM throughput on the shapes of `bench_gemm_onednn.c`, the baseline for bf16 GEMM.

    python Fixtures/bench_gemm_torch.py [--threads 1,2] [--runs 20] [--warmup 3] [--shapes square1024,vit_b8_fc1]

For every shape C[M,N] = A[M,K] . W[N,K]^T (the Linear layout: weights stored [N,K]),
`torch.nn.functional.linear(A, W)` in fp32 and in bf16 (bf16 input and bf16 weight, as a model after
`model.to(torch.bfloat16)` runs it), plus `torch.matmul` of two n x n matrices (fp32 and bf16) at
n = 1024 and 2048: the issue's target is a bf16 GEMM at >= 90 % of PyTorch's bf16 matmul GFLOP/s
there. A and W are uniform in [-1, 1) from a fixed seed; eager PyTorch, inference mode,
`torch.set_num_threads(t)` for each t of `--threads`. Each case runs `--warmup` untimed calls, then
`--runs` timed calls; GFLOP/s is 2*M*N*K / median time. After the timing, 64 sampled entries of the
result are compared with a double-precision sum over the fp32 inputs; `err` is the largest
|C - ref| / sum_k |A[i,k] W[j,k]| (about 1e-7 for fp32, 1e-4 to 1e-3 for bf16; a wrong layout
gives ~1).

Prints the torch version, the oneDNN / MKL / CPU-capability lines of `torch.__config__.show()`,
`torch.backends.cpu.get_cpu_capability()`, the load average before and after (other processes on
the cores skew the numbers), one text row per (shape, op, dtype, threads), the oneDNN kernels that a
bf16 linear and a bf16 matmul at n = 1024 dispatch to (a child process run with ONEDNN_VERBOSE=1),
and one JSON object per row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from bench_timing import wall_times

# name, M, N, K: C[M, N] = A[M, K] . W[N, K]^T; the same list as bench_gemm_onednn.c.
SHAPES = [
    ("square1024", 1024, 1024, 1024),
    ("square2048", 2048, 2048, 2048),
    ("vit_b1_proj", 197, 768, 768),
    ("vit_b1_fc1", 197, 3072, 768),
    ("vit_b1_fc2", 197, 768, 3072),
    ("vit_b8_qkv", 1576, 2304, 768),
    ("vit_b8_fc1", 1576, 3072, 768),
    ("vit_b8_fc2", 1576, 768, 3072),
    ("whisper_qkv", 1500, 1536, 512),
    ("whisper_fc1", 1500, 2048, 512),
    ("whisper_fc2", 1500, 512, 2048),
    ("esm650m_qkv", 1026, 3840, 1280),
    ("esm650m_fc1", 1026, 5120, 1280),
    ("esm650m_fc2", 1026, 1280, 5120),
    ("minilm_qkv", 4096, 1152, 384),
    ("minilm_fc1", 4096, 1536, 384),
    ("minilm_fc2", 4096, 384, 1536),
]
MATMUL_SIZES = (1024, 2048)
SAMPLES = 64


def uniform(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator) * 2 - 1


def timed(fn, runs: int, warmup: int) -> tuple[float, float]:
    times = wall_times(fn, runs, warmup)
    return statistics.median(times), min(times)


def max_error(c: torch.Tensor, a: torch.Tensor, b_nk: torch.Tensor) -> float:
    """Largest sampled |c - ref| / sum|a w|; a [M, K] and b_nk [N, K] fp32, c [M, N]."""
    generator = torch.Generator().manual_seed(12345)
    rows = torch.randint(0, a.shape[0], (SAMPLES,), generator=generator)
    cols = torch.randint(0, b_nk.shape[0], (SAMPLES,), generator=generator)
    products = a[rows].double() * b_nk[cols].double()  # [SAMPLES, K]
    ref = products.sum(dim=1)
    scale = products.abs().sum(dim=1).clamp_min(1e-300)
    got = c[rows, cols].double()
    return float(((got - ref).abs() / scale).max())


def cases(shape_filter: set[str] | None):
    """(name, op, M, N, K, make) where make(dtype) returns (fn, check)."""
    for index, (name, m, n, k) in enumerate(SHAPES):
        if shape_filter and name not in shape_filter:
            continue
        a = uniform((m, k), 1 + index)  # [M, K]
        w = uniform((n, k), 1000 + index)  # [N, K]

        def make(dtype, a=a, w=w):
            x, weight = a.to(dtype), w.to(dtype)
            return (lambda: F.linear(x, weight)), (lambda c: max_error(c.float(), a, w))

        yield name, "linear", m, n, k, make
    for n in MATMUL_SIZES:
        name = f"matmul{n}"
        if shape_filter and name not in shape_filter:
            continue
        a = uniform((n, n), 7 + n)  # [n, n]
        b = uniform((n, n), 8 + n)  # [n, n], C = a @ b

        def make(dtype, a=a, b=b):
            x, y = a.to(dtype), b.to(dtype)
            return (lambda: torch.matmul(x, y)), (lambda c: max_error(c.float(), a, b.t().contiguous()))

        yield name, "matmul", n, n, n, make


def verbose_probe() -> None:
    """One bf16 linear and one bf16 matmul at n = 1024 (run under ONEDNN_VERBOSE=1)."""
    torch.set_num_threads(2)
    x = uniform((1024, 1024), 1).bfloat16()
    w = uniform((1024, 1024), 2).bfloat16()
    with torch.inference_mode():
        for _ in range(2):
            F.linear(x, w)
            torch.matmul(x, w)


def dispatch_lines() -> list[str]:
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--verbose-probe"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    seen, lines = set(), []
    for line in out.splitlines():
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields and "isa:" not in line:
            continue
        key = tuple(f for f in fields if not f.replace(".", "").isdigit())
        if key not in seen:
            seen.add(key)
            lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--shapes", default="", help="comma-separated shape names (matmul1024, matmul2048 too)")
    parser.add_argument("--verbose-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verbose_probe:
        verbose_probe()
        return

    shape_filter = set(args.shapes.split(",")) if args.shapes else None
    print(f"# torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}")
    for line in torch.__config__.show().splitlines():
        if any(word in line for word in ("MKL-DNN", "oneDNN", "Math Kernel", "CPU capability", "OpenMP")):
            print("#", line.strip())
    print(f"# loadavg before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = f"{'shape':<12} {'M':>5} {'N':>5} {'K':>5}  {'op':<6} {'dtype':<5} {'th':>2} {'median_ms':>9} {'min_ms':>9} {'GFLOP/s':>8} {'err':>9}"
    print(header)
    records = []
    with torch.inference_mode():
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            for name, op, m, n, k, make in cases(shape_filter):
                for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                    fn, check = make(dtype)
                    median, fastest = timed(fn, args.runs, args.warmup)
                    err = check(fn())
                    gflops = 2 * m * n * k / median * 1e-9
                    print(f"{name:<12} {m:>5} {n:>5} {k:>5}  {op:<6} {dtype_name:<5} {threads:>2} {1e3 * median:>9.3f} "
                          f"{1e3 * fastest:>9.3f} {gflops:>8.1f} {err:>9.2e}", flush=True)
                    records.append({
                        "shape": name, "M": m, "N": n, "K": k, "op": op, "dtype": dtype_name, "threads": threads,
                        "median_ms": round(1e3 * median, 4), "min_ms": round(1e3 * fastest, 4),
                        "gflops": round(gflops, 2), "runs": args.runs, "max_err": float(f"{err:.3e}"),
                    })
    print(f"# loadavg after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("# ONEDNN_VERBOSE=1, bf16 linear and matmul at n = 1024, 2 threads:")
    for line in dispatch_lines():
        print(line)
    for record in records:
        print(json.dumps(record))


if __name__ == "__main__":
    main()
