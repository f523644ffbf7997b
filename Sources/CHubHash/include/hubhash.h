#ifndef HUBHASH_H
#define HUBHASH_H

#include <stddef.h>
#include <stdint.h>

/// SHA-256 compression of `blocks` consecutive 64-byte blocks at `data` into `state` (8 words, A..H).
/// Uses the x86 SHA extensions when the CPU has them, else portable C.
void hubhash_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// The same on the portable C code whatever the CPU, so tests check that path on SHA-NI machines too.
void hubhash_sha256_blocks_portable(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
