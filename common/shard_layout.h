/* shard_layout.h - byte layout of shard files (internal to the writer,
 * reader and verifier). Specified in common/SHARD_FORMAT.md. */
#ifndef TM_SHARD_LAYOUT_H
#define TM_SHARD_LAYOUT_H

#include <stdint.h>
#include <string.h>

#define TMS_MAGIC "TMSHARD\0"
#define TMS_END_MAGIC "TMSEND\0\0"
#define TMS_VERSION 1u
#define TMS_HEADER_SIZE 64u
#define TMS_TRAILER_SIZE 64u
#define TMS_CHUNK_ENTRY 32u
#define TMS_DOC_ENTRY 24u

static inline void tms_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static inline void tms_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tms_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t tms_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tms_get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline uint64_t tms_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

typedef struct {
  uint32_t version, token_width, vocab_size, eot_id;
  uint64_t tokenizer_hash;
  uint32_t frame_tokens, zstd_level;
} tms_header;

typedef struct {
  uint64_t index_offset, index_size, n_tokens, n_docs;
  uint32_t n_chunks, n_sources;
  uint64_t index_hash;
} tms_trailer;

typedef struct {
  uint64_t offset;
  uint64_t first_token;
  uint32_t comp_size;
  uint32_t n_tokens;
  uint64_t hash;
} tms_chunk;

#endif
