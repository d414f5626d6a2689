/* fuzz_dedup_index.c - reopening a dedup index directory whose files are
 * hostile (a disk error, another program, a bad restore): DIR/checkpoint,
 * DIR/records.bin and DIR/ids.bin come from the input, the stage opens the
 * index (checkpoint, header, every record's checksum while the RAM tables
 * are rebuilt), judges a few documents (candidate confirmation reads the
 * records through the map) and closes it.
 *
 * Input: [u16 LE checkpoint length][checkpoint][u24 LE records.bin length]
 * [records.bin][ids.bin = the rest]. Each input runs twice: as it is and with
 * the checksums recomputed (checkpoint, records header, each record; layout
 * in pipeline/dedup/sig_store.h), so that mutations reach the logic behind
 * them. Default dedup parameters (k = 112), as `tokenmill dedup` writes. */
#include <sys/stat.h>
#include <xxhash.h>

#include "dedup.h"
#include "fuzz_util.h"
#include "sig_store.h"

/* the checkpoint file: magic, version, k, params hash, records, id bytes,
 * user length, reserved, user block, checksum of all bytes before it */
#define CKP_BYTES (8 + 4 + 4 + 8 + 8 + 8 + 4 + 4 + TM_SIG_USER_MAX + 8)

static char dir[64];
static const char *const docs[] = {
    "The harbor was quiet in the early morning and the boats waited for the tide to turn.",
    "The harbor was quiet in the early morning and the boats waited for the tide to turn!",
    "Completely different words about mountains, valleys, rivers and the distant sea.",
};

static void write_file(const char *name, const uint8_t *p, size_t n) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (n && fwrite(p, 1, n, f) != n) abort();
  fclose(f);
}

static void fix(uint8_t *ckp, size_t cl, uint8_t *rec, size_t rl) {
  if (cl == CKP_BYTES) {
    uint64_t h = XXH3_64bits(ckp, CKP_BYTES - 8);
    memcpy(ckp + CKP_BYTES - 8, &h, 8);
  }
  if (rl < 64) return;
  uint64_t h = XXH3_64bits(rec, 56);
  memcpy(rec + 56, &h, 8);
  uint32_t k, rs;
  memcpy(&k, rec + 12, 4);
  memcpy(&rs, rec + 16, 4);
  if (k == 0 || k > 4096 || rs != 40 + 4 * k) return;
  for (size_t off = 64; off + rs <= rl; off += rs) {
    h = XXH3_64bits(rec + off, 32 + 4 * (size_t)k);
    memcpy(rec + off + 32 + 4 * k, &h, 8);
  }
}

static void one(const uint8_t *ckp, size_t cl, const uint8_t *rec, size_t rl, const uint8_t *ids,
                size_t il) {
  write_file("checkpoint", ckp, cl);
  write_file("records.bin", rec, rl);
  write_file("ids.bin", ids, il);
  tm_dedup_params p;
  tm_dedup_params_default(&p);
  p.ram_budget = 32u << 20;
  tm_dedup *d = NULL;
  tm_error err = {0};
  if (tm_dedup_open(&d, &p, dir, &err) < 0) {
    if (!err.msg[0]) __builtin_trap();
    return;
  }
  for (int i = 0; i < 3; i++) {
    char id[16];
    int n = snprintf(id, sizeof id, "fz%d", i);
    tm_dedup_verdict v;
    if (tm_dedup_process(d, id, (size_t)n, docs[i], strlen(docs[i]), &v, &err) == 0 && v.duplicate_of)
      (void)strlen(v.duplicate_of);
  }
  tm_dedup_close(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  tm_fuzz_quiet();
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/tm-fuzz-dedup.XXXXXX");
    if (!mkdtemp(dir)) abort();
  }
  if (n < 5 || n > (4u << 20)) return 0;
  size_t cl = (size_t)data[0] | (size_t)data[1] << 8;
  if (cl > n - 2) cl = n - 2;
  const uint8_t *ckp = data + 2, *rest = ckp + cl;
  size_t left = n - 2 - cl, rl = 0;
  if (left >= 3) {
    rl = (size_t)rest[0] | (size_t)rest[1] << 8 | (size_t)rest[2] << 16;
    rest += 3, left -= 3;
    if (rl > left) rl = left;
  }
  const uint8_t *rec = rest, *ids = rest + rl;
  size_t il = left - rl;
  one(ckp, cl, rec, rl, ids, il);
  uint8_t *copy = malloc(cl + rl + 1);
  if (copy) {
    memcpy(copy, ckp, cl);
    memcpy(copy + cl, rec, rl);
    fix(copy, cl, copy + cl, rl);
    if (memcmp(copy, ckp, cl) || memcmp(copy + cl, rec, rl)) one(copy, cl, copy + cl, rl, ids, il);
    free(copy);
  }
  return 0;
}
