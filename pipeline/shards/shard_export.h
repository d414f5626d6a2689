/* shard_export.h - write a shard directory in formats other trainers read.
 *
 * One output file set per shard listed in the manifest (named after it):
 *
 *  llmc       NAME.bin: llm.c's token file. Header of 256 int32 (20240520,
 *             1, token count, zeros), then the token stream as uint16, end-
 *             of-text between documents exactly as in the shard. Refused
 *             when an id does not fit in uint16 (vocabulary over 65,536).
 *  megatron   NAME.bin + NAME.idx: Megatron-LM's MMapIndexedDataset. .bin
 *             holds the tokens (uint16, or int32 for larger vocabularies);
 *             .idx holds the 9-byte magic "MMIDIDX\0\0", version (u64 1),
 *             dtype code (u8: 8 = uint16, 4 = int32), sequence count (u64),
 *             document count (u64, sequences + 1), sequence lengths (int32),
 *             sequence byte offsets (int64), document indices (int64,
 *             0..sequences). One sequence per document, its end-of-text
 *             included (as Megatron's preprocessing does with append-eod).
 *  datatrove  NAME.ds + NAME.ds.index + NAME.ds.metadata: datatrove's
 *             tokenized files. .ds holds the tokens (uint16, or uint32 for
 *             larger vocabularies); .ds.index the end of each document in
 *             tokens (uint64, end-of-text included); .ds.metadata three
 *             lines: tokenizer name, token count, token count for humans.
 *
 * Each output file is written as NAME.tmp and renamed when complete. Memory
 * is bounded (tokens are streamed in blocks).
 */
#ifndef TM_SHARD_EXPORT_H
#define TM_SHARD_EXPORT_H

#include <stdint.h>

#include "error.h"

typedef enum { TM_EXPORT_LLMC = 0, TM_EXPORT_MEGATRON, TM_EXPORT_DATATROVE } tm_export_format;

/* "llmc", "megatron", "datatrove" -> format; -1 if unknown. */
int tm_export_format_parse(const char *name);

/* Export every shard of shard_dir's manifest into out_dir (created).
 * *files receives the number of files written (may be NULL). */
int tm_shards_export(const char *shard_dir, const char *out_dir, tm_export_format f,
                     uint64_t *files, tm_error *err);

#endif
