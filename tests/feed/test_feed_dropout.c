/* test_feed_dropout.c - BPE-dropout in the feeder: a small tokenizer with
 * merges, shards of English text encoded with it; windows with dropout are
 * well formed (pieces between end-of-text decode to text of the documents),
 * deterministic for a seed, hold less text per window than without dropout
 * (dropout splits words into more tokens), and a tokenizer that is not the
 * shards' is refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed/feed_dropout.h"
#include "feed/feed_plan.h"
#include "manifest.h"
#include "shards/shard_dir.h"
#include "tm_test.h"
#include "tokenizer.h"

#define T 47u

static const char *merges_text[] = {"th", "the", "he", "in", "ing", "an", "and", "er", "re", "on",
                                    "at", "en", "es", "ed", "or", " t", " th", " the", " a",
                                    " an", " and", " o", " of", " w", " wh", "ou", "it", "is"};
#define N_MERGES (sizeof merges_text / sizeof merges_text[0])

static const char *words[] = {"the", "whale", "and", "of", "ocean", "in", "a", "ship", "sailing",
                              "there", "whit", "is", "at", "then", "rested", "on", "order"};

static int make_tokenizer(const char *path, tm_tokenizer **out) {
  static uint8_t bytes[256][1];
  const uint8_t *toks[256 + N_MERGES + 1];
  uint32_t lens[256 + N_MERGES + 1];
  uint8_t special[256 + N_MERGES + 1];
  uint32_t merges[N_MERGES][2];
  memset(special, 0, sizeof special);
  for (int i = 0; i < 256; i++) {
    bytes[i][0] = (uint8_t)i;
    toks[i] = bytes[i];
    lens[i] = 1;
  }
  for (size_t m = 0; m < N_MERGES; m++) {
    const char *s = merges_text[m];
    size_t L = strlen(s);
    toks[256 + m] = (const uint8_t *)s;
    lens[256 + m] = (uint32_t)L;
    /* left = the token for s[0..L-1) (a byte or an earlier merge), right = last byte */
    uint32_t left = (uint8_t)s[0];
    if (L > 2) {
      for (size_t k = 0; k < m; k++)
        if (strlen(merges_text[k]) == L - 1 && !memcmp(merges_text[k], s, L - 1))
          left = (uint32_t)(256 + k);
    }
    merges[m][0] = left;
    merges[m][1] = (uint8_t)s[L - 1];
  }
  toks[256 + N_MERGES] = (const uint8_t *)"<|endoftext|>";
  lens[256 + N_MERGES] = 13;
  special[256 + N_MERGES] = 1;
  tm_tokenizer_def def = {.pattern = TM_PRETOK_GPT2, .n_tokens = 256 + N_MERGES + 1,
                          .tokens = toks, .token_len = lens, .special = special,
                          .n_merges = N_MERGES, .merges = (const uint32_t(*)[2])merges};
  tm_error err = {0};
  tm_tokenizer *t;
  if (tm_tokenizer_new(&t, &def, &err) < 0 || tm_tokenizer_save(t, path, &err) < 0) {
    fprintf(stderr, "tokenizer: %s\n", err.msg);
    return -1;
  }
  tm_tokenizer_free(t);
  return tm_tokenizer_load(out, path, &err) < 0 ? -1 : 0;
}

int main(void) {
  char dir[256], tokpath[300], other[300];
  snprintf(dir, sizeof dir, "/tmp/tm-test-feed-dropout-%d", (int)getpid());
  snprintf(tokpath, sizeof tokpath, "%s.tokenizer.json", dir);
  snprintf(other, sizeof other, "%s.other.json", dir);
  tm_tokenizer *tok;
  if (make_tokenizer(tokpath, &tok) < 0) {
    CHECK(0);
    return tm_test_finish("test_feed_dropout");
  }
  uint32_t eot = (uint32_t)tm_tokenizer_eot_id(tok);
  /* shards of English-ish text */
  tm_shard_dir_options o;
  memset(&o, 0, sizeof o);
  tm_shard_params_default(&o.params);
  o.params.vocab_size = tm_tokenizer_vocab_size(tok);
  o.params.eot_id = eot;
  o.params.tokenizer_hash = tm_tokenizer_hash(tok);
  o.max_tokens = 20000;
  tm_error err = {0};
  tm_shard_dir *d;
  CHECK(tm_shard_dir_open(&d, dir, &o, &err) == 0);
  tm_encoder *enc = tm_encoder_new(tok);
  uint64_t s = 5;
  for (int doc = 0; doc < 150; doc++) {
    char text[4096];
    size_t len = 0;
    int nw = 5 + (int)(s % 200);
    for (int w = 0; w < nw && len < sizeof text - 32; w++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const char *wd = words[(s >> 33) % (sizeof words / sizeof words[0])];
      len += (size_t)snprintf(text + len, sizeof text - len, w ? " %s" : "%s", wd);
    }
    tm_ids ids = {0};
    CHECK(tm_encoder_encode(enc, text, len, 0, &ids, &err) == 0);
    char id[32];
    snprintf(id, sizeof id, "d%d", doc);
    CHECK(tm_shard_dir_append(d, ids.ids, ids.len, tm_doc_id_hash(id, strlen(id)), "books",
                              &err) == 0);
    tm_ids_free(&ids);
  }
  CHECK(tm_shard_dir_close(d, &err) == 0);
  tm_encoder_free(enc);

  tm_manifest m = {0};
  CHECK(tm_manifest_load(&m, dir, 0, &err) == 0);
  const char *names[64];
  for (size_t i = 0; i < m.n_shards && i < 64; i++) names[i] = m.shards[i].name;
  tm_feed_plan_options po = {.dir = dir, .shards = names, .n_shards = m.n_shards, .seed = 3,
                             .seq_len = T};
  tm_feed_plan *p;
  CHECK(tm_feed_plan_build(&p, &po, &err) == 0);
  uint64_t nwin = tm_feed_plan_windows(p);
  CHECK(nwin > 50);

  tm_feed_dropout *dp, *dp2;
  CHECK(tm_feed_dropout_open(&dp, tokpath, 0.5, tm_tokenizer_hash(tok), eot, &err) == 0);
  CHECK(tm_feed_dropout_open(&dp2, tokpath, 0.5, tm_tokenizer_hash(tok), eot, &err) == 0);
  uint16_t a[T + 1], b[T + 1], orig[T + 1];
  uint64_t bytes_orig = 0, bytes_drop = 0, applied = 0, changed = 0, same_again = 0, bad = 0;
  for (uint64_t g = 0; g < nwin; g++) {
    CHECK(tm_feed_plan_read(p, g, orig, &err) == 0);
    memcpy(a, orig, sizeof a);
    memcpy(b, orig, sizeof b);
    int r1 = tm_feed_dropout_apply(dp, a, T + 1, 2, 1000 + g, &err);
    int r2 = tm_feed_dropout_apply(dp2, b, T + 1, 2, 1000 + g, &err);
    CHECK(r1 >= 0 && r1 == r2);
    same_again += memcmp(a, b, sizeof a) == 0;
    applied += r1 == 1;
    changed += memcmp(a, orig, sizeof a) != 0;
    /* the text of the window: decode every piece; each must be made of the
     * words, spaces and nothing else (no broken bytes) */
    uint32_t ia[T + 1], io[T + 1];
    for (size_t i = 0; i <= T; i++) ia[i] = a[i], io[i] = orig[i];
    uint8_t *txt = NULL;
    size_t tl = 0, tc = 0;
    for (size_t i = 0; i <= T; i++)
      if (ia[i] == eot) ia[i] = ' ';
    CHECK(tm_tokenizer_decode(tok, ia, T + 1, &txt, &tl, &tc, &err) == 0);
    for (size_t i = 0; i < tl; i++) bad += !(txt[i] == ' ' || (txt[i] >= 'a' && txt[i] <= 'z'));
    bytes_drop += tl;
    tl = 0;
    for (size_t i = 0; i <= T; i++)
      if (io[i] == eot) io[i] = ' ';
    CHECK(tm_tokenizer_decode(tok, io, T + 1, &txt, &tl, &tc, &err) == 0);
    bytes_orig += tl;
    free(txt);
  }
  CHECKF(bad == 0, "%llu unexpected bytes in dropout windows", (unsigned long long)bad);
  CHECK(same_again == nwin); /* deterministic for the key */
  CHECKF(applied > nwin * 9 / 10, "applied to %llu of %llu windows", (unsigned long long)applied,
         (unsigned long long)nwin);
  CHECKF(changed > nwin / 2, "changed %llu of %llu", (unsigned long long)changed,
         (unsigned long long)nwin);
  CHECKF(bytes_drop * 10 < bytes_orig * 9, "text per window: %llu with dropout, %llu without",
         (unsigned long long)bytes_drop, (unsigned long long)bytes_orig);
  /* another key, another segmentation */
  memcpy(a, orig, sizeof a);
  memcpy(b, orig, sizeof b);
  tm_feed_dropout_apply(dp, a, T + 1, 2, 1, &err);
  tm_feed_dropout_apply(dp, b, T + 1, 2, 2, &err);
  CHECK(memcmp(a, b, sizeof a) != 0);
  tm_feed_dropout_free(dp);
  tm_feed_dropout_free(dp2);

  /* not the shards' tokenizer: refused, naming both hashes */
  CHECK(tm_feed_dropout_open(&dp, tokpath, 0.5, 0x1234, eot, &err) == -TM_EINVAL);
  CHECK(strstr(err.msg, "0000000000001234") != NULL);
  CHECK(tm_feed_dropout_open(&dp, tokpath, 1.5, tm_tokenizer_hash(tok), eot, &err) == -TM_EINVAL);

  tm_feed_plan_free(p);
  tm_manifest_free(&m);
  tm_tokenizer_free(tok);
  char cmd[1000];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", dir, tokpath, other);
  CHECK(system(cmd) == 0);
  return tm_test_finish("test_feed_dropout");
}
