#ifndef HUBHASH_H
#define HUBHASH_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 compression of `blocks` consecutive 64-byte blocks at `data` into `state` (8 words, A..H).
/// Uses the x86 SHA extensions when the CPU has them, else portable C.
void hubhash_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// Whether `hubhash_sha256_blocks` runs on the CPU's SHA instructions (for benchmark reports).
int hubhash_sha256_accelerated(void);

#endif
