// bfloat16 products on AVX-512 BF16; see bf16gemm.h for the layouts.
//
// The product runs in blocks: MC rows of A at a time and KC pairs of k at a time (a panel's KC
// pairs stay in L2 while every MR-row strip of the block passes over them; each pair's 256 bytes
// of B feed 24 products, so L2 keeps up), and a register tile of MR × 64 outputs: 24 accumulators
// of 16 floats, four loads of B and one broadcast pair of A per row for every pair of k. Block
// sizes measured on Zen 5 (2 threads, model shapes): KC 256 beat 64 and 128 by 3–20 %, MC 126
// beat 252 and 504.
#include "bf16gemm.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PANEL MMATTN_BF16_PANEL

/// A pair of bf16 values read or written as one 32-bit word (the buffers are uint16_t arrays).
typedef uint32_t __attribute__((may_alias)) pair_t;
#define MR 6
#define KC 256   // pairs of k per block (a panel's block: 64 KiB, in L2)
#define MC 126   // rows of A per block (a multiple of MR; 126 KiB of a KC block, in L2)

size_t mmattn_bf16_packed_count(size_t n, size_t k) {
    return (n + PANEL - 1) / PANEL * ((k + 1) / 2) * PANEL * 2;
}

#if defined(__x86_64__)
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/// 16 floats → 16 bf16 in the low halves of 32-bit lanes.
BF16_TARGET static inline __m512i bf16_lanes(__m512 x) {
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
}

/// n floats → n bf16 (n ≤ 16), the rest of the 16 lanes zero.
BF16_TARGET static inline __m256i bf16_16(const float *x, size_t n) {
    __mmask16 mask = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    return (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, x));
}

BF16_TARGET static void convert_row(const float *a, size_t k, uint16_t *out) {
    size_t c = 0;
    for (; c + 16 <= k; c += 16) _mm256_storeu_si256((__m256i *)(out + c), bf16_16(a + c, 16));
    if (c < k) {
        __mmask16 mask = (__mmask16)((1u << (k - c)) - 1);
        _mm256_mask_storeu_epi16(out + c, mask, bf16_16(a + c, k - c));
    }
    if (k & 1) out[k] = 0;
}

BF16_TARGET void mmattn_bf16_convert_rows(const float *a, size_t lda, size_t m, size_t k, uint16_t *out, size_t ldo) {
    for (size_t r = 0; r < m; r++) convert_row(a + r * lda, k, out + r * ldo);
}

BF16_TARGET void mmattn_bf16_pack_rows(const float *b, size_t ldb, size_t n, size_t k, uint16_t *packed) {
    size_t kp = (k + 1) / 2, panels = (n + PANEL - 1) / PANEL;
    uint32_t pairs[16];
    for (size_t p = 0; p < panels; p++) {
        pair_t *panel = (pair_t *)(packed + p * kp * PANEL * 2);  // [kp, 64] pairs
        for (size_t c = 0; c < PANEL; c++) {
            size_t j = p * PANEL + c;
            if (j >= n) {
                for (size_t q = 0; q < kp; q++) panel[q * PANEL + c] = 0;
                continue;
            }
            const float *row = b + j * ldb;
            for (size_t q0 = 0; q0 < kp; q0 += 16) {  // 32 elements of the row: 16 pairs
                size_t w = k - 2 * q0 < 32 ? k - 2 * q0 : 32;
                __m256i lo = bf16_16(row + 2 * q0, w < 16 ? w : 16);
                __m256i hi = w > 16 ? bf16_16(row + 2 * q0 + 16, w - 16) : _mm256_setzero_si256();
                _mm256_storeu_si256((__m256i *)pairs, lo);
                _mm256_storeu_si256((__m256i *)(pairs + 8), hi);
                size_t nq = kp - q0 < 16 ? kp - q0 : 16;
                for (size_t q = 0; q < nq; q++) panel[(q0 + q) * PANEL + c] = pairs[q];
            }
        }
    }
}

BF16_TARGET void mmattn_bf16_pack_columns(const float *b, size_t ldb, size_t k, size_t n, uint16_t *packed) {
    size_t kp = (k + 1) / 2, panels = (n + PANEL - 1) / PANEL;
    for (size_t p = 0; p < panels; p++) {
        pair_t *panel = (pair_t *)(packed + p * kp * PANEL * 2);  // [kp, 64] pairs
        for (size_t q = 0; q < kp; q++) {
            const float *lo = b + 2 * q * ldb, *hi = lo + ldb;  // rows 2q and 2q + 1 of b
            int odd = 2 * q + 1 >= k;
            for (size_t c = 0; c < PANEL; c += 16) {
                size_t j = p * PANEL + c, w = j >= n ? 0 : (n - j < 16 ? n - j : 16);
                __mmask16 mask = w == 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
                __m512i l = bf16_lanes(_mm512_maskz_loadu_ps(mask, lo + j));
                __m512i h = odd ? _mm512_setzero_si512() : bf16_lanes(_mm512_maskz_loadu_ps(mask, hi + j));
                _mm512_storeu_si512(panel + q * PANEL + c, _mm512_or_si512(l, _mm512_slli_epi32(h, 16)));
            }
        }
    }
}

/// One register tile: C[rows, 64 columns masked by `cols`] = alpha · A[rows, kp pairs] · panel
/// + (C when `accumulate`, else `bias` when not NULL). Inlined with a constant `rows`, so the
/// accumulators stay in registers.
BF16_TARGET __attribute__((always_inline)) static inline void tile(
    int rows, size_t kp, const pair_t *a, size_t lda, const pair_t *b, const float *bias, float *c, size_t ldc,
    const __mmask16 cols[4], __m512 alpha, int accumulate) {
    __m512 acc[MR][4];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_ps();
    for (size_t q = 0; q < kp; q++) {
        const pair_t *bq = b + q * PANEL;
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bq), b1 = (__m512bh)_mm512_loadu_si512(bq + 16);
        __m512bh b2 = (__m512bh)_mm512_loadu_si512(bq + 32), b3 = (__m512bh)_mm512_loadu_si512(bq + 48);
        for (int r = 0; r < MR; r++) {
            if (r >= rows) break;
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)a[r * lda + q]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, b2);
            acc[r][3] = _mm512_dpbf16_ps(acc[r][3], x, b3);
        }
    }
    __m512 add[4];
    for (int j = 0; j < 4; j++) add[j] = bias && !accumulate ? _mm512_maskz_loadu_ps(cols[j], bias + 16 * j) : _mm512_setzero_ps();
    for (int r = 0; r < MR; r++) {
        if (r >= rows) break;
        float *cr = c + r * ldc;
        for (int j = 0; j < 4; j++) {
            __m512 v = _mm512_fmadd_ps(acc[r][j], alpha, accumulate ? _mm512_maskz_loadu_ps(cols[j], cr + 16 * j) : add[j]);
            _mm512_mask_storeu_ps(cr + 16 * j, cols[j], v);
        }
    }
}

BF16_TARGET void mmattn_bf16_gemm(size_t m, size_t n, size_t k, float alpha, const uint16_t *a, size_t lda,
                                  const uint16_t *packed, const float *bias, float *c, size_t ldc, int accumulate) {
    size_t kp = (k + 1) / 2, panels = (n + PANEL - 1) / PANEL, lda32 = lda / 2;
    const pair_t *a32 = (const pair_t *)a, *b32 = (const pair_t *)packed;
    __m512 va = _mm512_set1_ps(alpha);
    if (kp == 0) {  // no depth: C = bias (or 0), or C unchanged when accumulating
        for (size_t r = 0; r < m && !accumulate; r++)
            for (size_t j = 0; j < n; j++) c[r * ldc + j] = bias ? bias[j] : 0;
        return;
    }
    for (size_t m0 = 0; m0 < m; m0 += MC) {
        size_t m1 = m0 + MC < m ? m0 + MC : m;
        for (size_t q0 = 0; q0 < kp; q0 += KC) {
            size_t nq = kp - q0 < KC ? kp - q0 : KC;
            int acc = accumulate || q0 > 0;
            for (size_t p = 0; p < panels; p++) {
                size_t w = n - p * PANEL < PANEL ? n - p * PANEL : PANEL;
                __mmask16 cols[4];
                for (int j = 0; j < 4; j++) {
                    size_t lo = 16 * (size_t)j, left = w > lo ? w - lo : 0;
                    cols[j] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                }
                const pair_t *bp = b32 + (p * kp + q0) * PANEL;
                float *cp = c + p * PANEL;
                const float *panel_bias = bias ? bias + p * PANEL : NULL;
                size_t r = m0;
                for (; r + MR <= m1; r += MR)
                    tile(MR, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc);
                switch (m1 - r) {
                case 5: tile(5, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc); break;
                case 4: tile(4, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc); break;
                case 3: tile(3, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc); break;
                case 2: tile(2, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc); break;
                case 1: tile(1, nq, a32 + r * lda32 + q0, lda32, bp, panel_bias, cp + r * ldc, ldc, cols, va, acc); break;
                default: break;
                }
            }
        }
    }
}

static int detect(void) {
    const char *off = getenv("MMATTN_DISABLE_BF16");
    if (off && off[0] && strcmp(off, "0") != 0) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl");
}

#else

static int detect(void) { return 0; }
void mmattn_bf16_convert_rows(const float *a, size_t lda, size_t m, size_t k, uint16_t *out, size_t ldo) { abort(); }
void mmattn_bf16_pack_rows(const float *b, size_t ldb, size_t n, size_t k, uint16_t *packed) { abort(); }
void mmattn_bf16_pack_columns(const float *b, size_t ldb, size_t k, size_t n, uint16_t *packed) { abort(); }
void mmattn_bf16_gemm(size_t m, size_t n, size_t k, float alpha, const uint16_t *a, size_t lda,
                      const uint16_t *packed, const float *bias, float *c, size_t ldc, int accumulate) { abort(); }

#endif

int mmattn_bf16_available(void) {
    static _Atomic int available = -1;  // every thread that races here stores the same value
    int v = available;
    if (v < 0) { v = detect(); available = v; }
    return v;
}
