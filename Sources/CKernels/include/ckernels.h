// Element kernels of the attention inner loop in C, on the widest vector unit the CPU has
// (x86-64: AVX-512, else AVX2 with FMA; else scalar), chosen once at run time: the Swift code is
// built for the baseline x86-64, so its loops use 4-wide SSE only.
#ifndef MMATTN_CKERNELS_H
#define MMATTN_CKERNELS_H

#include <stddef.h>
#include "bf16gemm.h"  // the bf16 products (this header is the module's umbrella)

/// One step of the online softmax over a score tile s [m × n] (row stride ld), for each row r:
/// new = max(row_max[r], max of the row). When new is -infinity (no visible key yet) the row
/// becomes zeros and alpha[r] = 1, the state unchanged. Otherwise the row becomes exp(s - new),
/// alpha[r] = exp(row_max[r] - new) (0 for the first visible keys), row_sum[r] = row_sum[r] *
/// alpha[r] + the row's sum, and row_max[r] = new. exp is e^x to a few ulp, exactly 0 below
/// -87.3, the same polynomial as the Swift VMath.exp.
void mmattn_online_softmax(float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha);

/// Activations of `mmattn_activate`, as the Swift `Activation` names them.
enum { MMATTN_GELU = 0, MMATTN_GELU_TANH = 1, MMATTN_QUICK_GELU = 2, MMATTN_SILU = 3 };

/// Apply activation `kind` in place to n floats on AVX-512 and return 1; where the CPU lacks
/// AVX-512, change nothing and return 0 (the caller runs its own loop). Same formulas as the Swift
/// `Kernels.activate`: exact GELU through erf (Abramowitz–Stegun 7.1.26), tanh as 1 − 2/(e^{2x}+1),
/// and the exp above; results differ from the Swift loop's in the last bits (fused multiply-adds).
int mmattn_activate(int kind, float *x, size_t n);

/// Which implementation runs: 2 AVX-512, 1 AVX2+FMA, 0 scalar.
int mmattn_kernels_level(void);

/// `mmattn_online_softmax` on the implementation of `level` (at most `mmattn_kernels_level()`),
/// so that tests check every one on any machine that has it.
void mmattn_online_softmax_at(int level, float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha);

#endif
