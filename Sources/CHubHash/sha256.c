// SHA-256 block compression (FIPS 180-4) for verifying downloaded LFS blobs: a portable version and
// one on the x86 SHA extensions (SHA-NI), chosen once at run time.
#include "hubhash.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_portable(uint32_t s[8], const uint8_t *p, size_t blocks) {
    uint32_t w[64];
    for (; blocks > 0; blocks--, p += 64) {
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1;
            d = c; c = b; b = a; a = t1 + t2;
        }
        s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// The SHA-NI round instruction keeps the state as two vectors, ABEF and CDGH (A in the top lane).
// Each `sha256rnds2` does two rounds and returns the new ABEF; the old ABEF is then the new CDGH,
// so the two registers swap roles every two rounds.
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_shani(uint32_t s[8], const uint8_t *p, size_t blocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abcd = _mm_loadu_si128((const __m128i *)&s[0]);
    __m128i efgh = _mm_loadu_si128((const __m128i *)&s[4]);
    __m128i badc = _mm_shuffle_epi32(abcd, 0xB1);             // lanes 0..3 = B A D C
    __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);             // lanes 0..3 = H G F E
    __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);            // F E B A
    __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);         // H G D C
    for (; blocks > 0; blocks--, p += 64) {
        const __m128i abefStart = abef, cdghStart = cdgh;
        __m128i m[4];
        for (int i = 0; i < 4; i++) m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), byteswap);
#pragma clang loop unroll(full)
        for (int g = 0; g < 16; g++) {
            if (g >= 4) {
                // W[i..i+3] from W[i-16..i-13], W[i-12..i-9], W[i-7..i-4] and W[i-4..i-1].
                __m128i t = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
                m[g & 3] = _mm_sha256msg2_epu32(t, m[(g + 3) & 3]);
            }
            __m128i wk = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);          // cdgh now holds ABEF
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abefStart);
        cdgh = _mm_add_epi32(cdgh, cdghStart);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);             // A B E F
    __m128i ghcd = _mm_shuffle_epi32(cdgh, 0xB1);             // G H C D
    _mm_storeu_si128((__m128i *)&s[0], _mm_blend_epi16(feba, ghcd, 0xF0));   // A B C D
    _mm_storeu_si128((__m128i *)&s[4], _mm_alignr_epi8(ghcd, feba, 8));      // E F G H
}

static int has_shani(void) {
    __builtin_cpu_init();  // idempotent; reads CPUID once
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}
#else
static int has_shani(void) { return 0; }
#endif

void hubhash_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
#if defined(__x86_64__) || defined(__i386__)
    if (has_shani()) { sha256_shani(state, data, blocks); return; }
#endif
    sha256_portable(state, data, blocks);
}

void hubhash_sha256_blocks_portable(uint32_t state[8], const uint8_t *data, size_t blocks) {
    sha256_portable(state, data, blocks);
}
