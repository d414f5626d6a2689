/* pretok.h - the pre-tokenizers of byte-level BPE, written by hand.
 *
 * A pre-tokenizer splits text into pre-tokens ("words"); BPE merges never
 * cross a pre-token boundary. Two patterns are implemented, each exactly as
 * the regular expression it is named after (checked against PCRE2 with
 * UTF + UCP by tests/tokenizer/test_pretok.c):
 *
 *   TM_PRETOK_GPT2  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   TM_PRETOK_GPT4  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *                   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+      (cl100k)
 *
 * Character classes come from utf8proc's general categories: \p{L} = Lu Ll
 * Lt Lm Lo, \p{N} = Nd Nl No, \s = Zs Zl Zp, U+0009-U+000D and U+0085 (as
 * PCRE2's UCP \s and Unicode White_Space). Bytes that are not valid UTF-8 are each one character
 * of the "other" class ([^\s\p{L}\p{N}]), so any byte string splits and
 * round-trips.
 *
 * No allocation, no state: safe from any number of threads.
 */
#ifndef TM_PRETOK_H
#define TM_PRETOK_H

#include <stddef.h>
#include <stdint.h>

typedef enum { TM_PRETOK_GPT2 = 0, TM_PRETOK_GPT4 = 1 } tm_pretok_kind;

/* The regular expression of a pattern, as HF tokenizers writes it. */
const char *tm_pretok_regex(tm_pretok_kind kind);
/* "gpt2" / "gpt4" -> kind; -1 if unknown. */
int tm_pretok_parse(const char *name);
const char *tm_pretok_name(tm_pretok_kind kind);

/* Character class bits of a code point (see above). */
enum { TM_PRETOK_L = 1, TM_PRETOK_N = 2, TM_PRETOK_WS = 4, TM_PRETOK_NL = 8 /* \r \n */ };
int tm_pretok_class(uint32_t cp);

/* The end (exclusive) of the pre-token that starts at byte offset i of
 * s[0..n); requires i < n; the result is > i and <= n. Iterate with
 *   for (size_t i = 0, e; i < n; i = e) { e = tm_pretok_next(k, s, n, i); ... } */
size_t tm_pretok_next(tm_pretok_kind kind, const uint8_t *s, size_t n, size_t i);

/* The largest p in [from, n) where a text may be cut without changing its
 * pre-tokens under either pattern (splitting s[0..p) and s[p..n) gives the
 * same pre-tokens as splitting s[0..n)), or 0 if there is none. Such a p is
 * a space between two ASCII letters ("a b"): the letter run (or
 * contraction) before it ends at p and " b..." starts a pre-token. Used to
 * read long texts in blocks. */
size_t tm_pretok_safe_cut(const uint8_t *s, size_t n, size_t from);

#endif
