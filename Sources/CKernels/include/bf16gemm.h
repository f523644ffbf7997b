// bfloat16 matrix products with fp32 accumulation on AVX-512 BF16 (`vdpbf16ps`), for CPUs that
// have it (checked at run time: `mmattn_bf16_available`). Every function but that check may run
// only where it returns 1; the file is built without global flags (per-function targets).
//
// Layouts. A bf16 value is the upper half of an fp32, rounded to nearest even (subnormals become
// zero, as `vcvtneps2bf16` makes them). `vdpbf16ps`
// multiplies pairs of consecutive k, so both operands hold k in pairs:
// - A, the left operand [m, k]: rows of bf16, row stride `lda` (even, ≥ k rounded up to even),
//   an odd k's last pair padded with a zero (`mmattn_bf16_convert_rows`).
// - B, the right operand, "packed": panels of MMATTN_BF16_PANEL (64) output columns; panel p holds,
//   for each pair of k (kp = (k+1)/2 of them), 64 columns × 2 bf16, columns past n and the odd
//   k's pad zero. `mmattn_bf16_packed_count(n, k)` elements in all; panel p starts at element
//   p · kp · 128.
#ifndef MMATTN_BF16GEMM_H
#define MMATTN_BF16GEMM_H

#include <stddef.h>
#include <stdint.h>

/// Output columns per packed panel of B.
#define MMATTN_BF16_PANEL 64

/// 1 when the CPU and the operating system support AVX-512 BF16 and the environment does not
/// set MMATTN_DISABLE_BF16 to a non-empty value other than "0"; else 0. Decided once per process.
int mmattn_bf16_available(void);

/// bf16 elements of a packed B of n columns and depth k.
size_t mmattn_bf16_packed_count(size_t n, size_t k);

/// Pack B from rows: b is [n, k] at row stride ldb (a Linear layer's weight W[out, in], so the
/// product is A·Wᵀ; or a key tile, so the product is Q·Kᵀ). Writes `mmattn_bf16_packed_count`.
void mmattn_bf16_pack_rows(const float *b, size_t ldb, size_t n, size_t k, uint16_t *packed);

/// Pack B from columns: b is [k, n] at row stride ldb (a value tile, for P·V).
void mmattn_bf16_pack_columns(const float *b, size_t ldb, size_t k, size_t n, uint16_t *packed);

/// Round the rows of a [m, k] fp32 matrix (row stride lda) to bf16 rows at stride ldo (even),
/// padding an odd k with one zero.
void mmattn_bf16_convert_rows(const float *a, size_t lda, size_t m, size_t k, uint16_t *out, size_t ldo);

/// C = alpha·A·B + (C when `accumulate`, else `bias` broadcast over the rows when it is not
/// NULL): A bf16 [m, k] at row stride lda, B packed (n columns, starting at a panel boundary of
/// the packed matrix it belongs to), bias [n], C fp32 [m, n] at stride ldc (need not be
/// initialised unless `accumulate`). Single-threaded; callers split the panels over threads.
void mmattn_bf16_gemm(size_t m, size_t n, size_t k, float alpha, const uint16_t *a, size_t lda,
                      const uint16_t *packed, const float *bias, float *c, size_t ldc, int accumulate);

#endif
