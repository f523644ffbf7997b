// The online-softmax step of the fused attention kernel; see ckernels.h.
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// e^x: x = k·ln2 + r (Cody–Waite, two constants), a degree-6 polynomial for e^r, 2^k from the
// exponent bits. Inputs are clamped to [-87.3, 88.7]; below -87.3 the result is exactly 0.
#define EXP_LO -87.3f
#define EXP_HI 88.7f
#define LOG2E 1.442695040888963f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

static inline float exp_scalar(float x) {
    float c = fminf(fmaxf(x, EXP_LO), EXP_HI);
    float k = nearbyintf(c * LOG2E);
    float r = c - k * LN2_HI;
    r = r - k * LN2_LO;
    float p = P0;
    p = p * r + P1; p = p * r + P2; p = p * r + P3; p = p * r + P4; p = p * r + P5;
    float er = p * (r * r) + r + 1;
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return x < EXP_LO ? 0 : er * scale;
}

static void softmax_scalar(float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha) {
    for (size_t r = 0; r < m; r++) {
        float *row = s + r * ld;
        float mx = -INFINITY;
        for (size_t c = 0; c < n; c++) mx = row[c] > mx ? row[c] : mx;
        float old = row_max[r], new = old > mx ? old : mx;
        if (new == -INFINITY) { memset(row, 0, n * sizeof(float)); alpha[r] = 1; continue; }
        float sum = 0;
        for (size_t c = 0; c < n; c++) { row[c] = exp_scalar(row[c] - new); sum += row[c]; }
        float a = exp_scalar(old - new);
        row_sum[r] = row_sum[r] * a + sum;
        row_max[r] = new;
        alpha[r] = a;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static inline __m256 exp_avx2(__m256 x) {
    __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(EXP_LO)), _mm256_set1_ps(EXP_HI));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_HI), c);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P5));
    __m256 er = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(er, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ), y);
}

__attribute__((target("avx2,fma")))
static void softmax_avx2(float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha) {
    size_t n8 = n & ~(size_t)7;
    for (size_t r = 0; r < m; r++) {
        float *row = s + r * ld;
        __m256 vmax = _mm256_set1_ps(-INFINITY);
        for (size_t c = 0; c < n8; c += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(row + c));
        float lanes[8];
        _mm256_storeu_ps(lanes, vmax);
        float mx = -INFINITY;
        for (int i = 0; i < 8; i++) mx = lanes[i] > mx ? lanes[i] : mx;
        for (size_t c = n8; c < n; c++) mx = row[c] > mx ? row[c] : mx;
        float old = row_max[r], new = old > mx ? old : mx;
        if (new == -INFINITY) { memset(row, 0, n * sizeof(float)); alpha[r] = 1; continue; }
        __m256 vnew = _mm256_set1_ps(new), vsum = _mm256_setzero_ps();
        for (size_t c = 0; c < n8; c += 8) {
            __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(row + c), vnew));
            _mm256_storeu_ps(row + c, e);
            vsum = _mm256_add_ps(vsum, e);
        }
        _mm256_storeu_ps(lanes, vsum);
        float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        for (size_t c = n8; c < n; c++) { row[c] = exp_scalar(row[c] - new); sum += row[c]; }
        float a = exp_scalar(old - new);
        row_sum[r] = row_sum[r] * a + sum;
        row_max[r] = new;
        alpha[r] = a;
    }
}

__attribute__((target("avx512f")))
static inline __m512 exp_avx512(__m512 x) {
    __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(EXP_LO)), _mm512_set1_ps(EXP_HI));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_HI), c);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
    __m512 er = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    __m512 y = _mm512_mul_ps(er, _mm512_castsi512_ps(bits));
    __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_LT_OQ);
    return _mm512_maskz_mov_ps((__mmask16)~under, y);
}

__attribute__((target("avx512f")))
static void softmax_avx512(float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha) {
    size_t n16 = n & ~(size_t)15;
    __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1);
    for (size_t r = 0; r < m; r++) {
        float *row = s + r * ld;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (size_t c = 0; c < n16; c += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(row + c));
        if (tail) vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, row + n16));
        float mx = _mm512_reduce_max_ps(vmax);
        float old = row_max[r], new = old > mx ? old : mx;
        if (new == -INFINITY) { memset(row, 0, n * sizeof(float)); alpha[r] = 1; continue; }
        __m512 vnew = _mm512_set1_ps(new), vsum = _mm512_setzero_ps();
        for (size_t c = 0; c < n16; c += 16) {
            __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(row + c), vnew));
            _mm512_storeu_ps(row + c, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        if (tail) {
            __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, row + n16), vnew));
            e = _mm512_maskz_mov_ps(tail, e);
            _mm512_mask_storeu_ps(row + n16, tail, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        float sum = _mm512_reduce_add_ps(vsum);
        float a = exp_scalar(old - new);
        row_sum[r] = row_sum[r] * a + sum;
        row_max[r] = new;
        alpha[r] = a;
    }
}

__attribute__((target("avx512f")))
static inline __m512 erf_avx512(__m512 x) {
    __m512 a = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1)));
    __m512 y = _mm512_set1_ps(1.061405429f);
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-1.453152027f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(1.421413741f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(-0.284496736f));
    y = _mm512_fmadd_ps(y, t, _mm512_set1_ps(0.254829592f));
    __m512 e = _mm512_fnmadd_ps(_mm512_mul_ps(y, t), exp_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)),
                                _mm512_set1_ps(1));
    // erf is odd: give e the sign of x.
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(e),
                                               _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000))));
}

__attribute__((target("avx512f")))
static inline __m512 activate16(int kind, __m512 v) {
    __m512 one = _mm512_set1_ps(1), half = _mm512_set1_ps(0.5f);
    switch (kind) {
    case MMATTN_GELU:
        return _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf_avx512(_mm512_mul_ps(v, _mm512_set1_ps(0.7071067811865476f)))));
    case MMATTN_GELU_TANH: {
        __m512 inner = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                     _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), _mm512_mul_ps(v, v), v));
        __m512 tanh = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2), _mm512_add_ps(exp_avx512(_mm512_add_ps(inner, inner)), one)));
        return _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, tanh));
    }
    case MMATTN_QUICK_GELU:
        return _mm512_div_ps(v, _mm512_add_ps(one, exp_avx512(_mm512_mul_ps(v, _mm512_set1_ps(-1.702f)))));
    default:  // MMATTN_SILU
        return _mm512_div_ps(v, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    }
}

__attribute__((target("avx512f")))
static void activate_avx512(int kind, float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, activate16(kind, _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, tail, activate16(kind, _mm512_maskz_loadu_ps(tail, x + i)));
    }
}

#endif

int mmattn_activate(int kind, float *x, size_t n) {
#if defined(__x86_64__)
    if (mmattn_kernels_level() >= 2) {
        activate_avx512(kind, x, n);
        return 1;
    }
#endif
    return 0;
}

static int detect_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int mmattn_kernels_level(void) {
    static _Atomic int level = -1;  // every thread that races here stores the same value
    int l = level;
    if (l < 0) { l = detect_level(); level = l; }
    return l;
}

void mmattn_online_softmax(float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha) {
    mmattn_online_softmax_at(mmattn_kernels_level(), s, m, n, ld, row_max, row_sum, alpha);
}

void mmattn_online_softmax_at(int level, float *s, size_t m, size_t n, size_t ld, float *row_max, float *row_sum, float *alpha) {
    if (level > mmattn_kernels_level()) level = mmattn_kernels_level();
    switch (level) {
#if defined(__x86_64__)
    case 2: softmax_avx512(s, m, n, ld, row_max, row_sum, alpha); break;
    case 1: softmax_avx2(s, m, n, ld, row_max, row_sum, alpha); break;
#endif
    default: softmax_scalar(s, m, n, ld, row_max, row_sum, alpha); break;
    }
}
