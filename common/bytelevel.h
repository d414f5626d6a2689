/* bytelevel.h - GPT-2's byte-to-unicode mapping.
 *
 * A byte-level BPE vocabulary spells every token as a string of printable
 * code points, one per byte: bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to
 * the code point of the same value; the other 68 bytes map, in byte order,
 * to U+0100, U+0101, ... U+0143. tokenizer.json vocabularies and merges are
 * written in this spelling; inside tokenmill tokens are raw bytes.
 */
#ifndef TM_BYTELEVEL_H
#define TM_BYTELEVEL_H

#include <stddef.h>
#include <stdint.h>

/* The code point that spells byte b (always in U+0021..U+0143). */
uint32_t tm_bytelevel_cp(uint8_t b);

/* The byte spelled by code point cp, or -1 if cp is not a byte symbol. */
int tm_bytelevel_byte(uint32_t cp);

/* Spell n raw bytes as UTF-8 text: out needs room for 2*n+1 bytes (each
 * mapped code point takes at most 2 UTF-8 bytes). Writes a NUL terminator;
 * returns the length without it. */
size_t tm_bytelevel_spell(const uint8_t *in, size_t n, char *out);

/* Turn a spelled UTF-8 string back into raw bytes (out needs room for n
 * bytes). Returns the number of bytes written, or -1 when the string holds
 * a code point that is not a byte symbol or is not valid UTF-8. */
long tm_bytelevel_unspell(const char *in, size_t n, uint8_t *out);

#endif
