/* feed_dropout.h - BPE-dropout augmentation of packed windows.
 *
 * A window of T+1 tokens is cut at its end-of-text tokens into pieces; each
 * piece is decoded to bytes and encoded again with BPE-dropout (each merge
 * skipped with probability p), seeded by the window's key and the piece's
 * index, so the result is a pure function of (seed, pass, window) like the
 * rest of the order. The pieces are re-joined with the end-of-text tokens
 * and cut to T+1 tokens again (dropout only lengthens text, so the window
 * ends earlier in its text). In the rare case the re-encoded window is
 * shorter than T+1 tokens (a piece cut mid-word at the window's edge can
 * encode shorter), the window is kept as it was and counted.
 */
#ifndef TM_FEED_DROPOUT_H
#define TM_FEED_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct tm_feed_dropout tm_feed_dropout;

/* Load the tokenizer at path; its hash must be expect_hash (the shards'),
 * else -TM_EINVAL naming both. p in (0, 1). */
int tm_feed_dropout_open(tm_feed_dropout **out, const char *path, double p, uint64_t expect_hash,
                         uint32_t eot_id, tm_error *err);
void tm_feed_dropout_free(tm_feed_dropout *d);

/* Re-tokenize n tokens of width bytes (little endian) at window in place.
 * Returns 1 when re-tokenized, 0 when kept unchanged (see above), or a
 * negative TM_E* code. */
int tm_feed_dropout_apply(tm_feed_dropout *d, void *window, size_t n, unsigned width,
                          uint64_t key, tm_error *err);

#endif
