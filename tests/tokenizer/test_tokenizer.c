/* test_tokenizer.c - tokenizer.h: the zero-merge byte-level tokenizer,
 * save/load/hash, round trips, merge order against a reference, specials,
 * BPE-dropout, long pre-tokens, rejection of unsupported tokenizer.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytelevel.h"
#include "tm_test.h"
#include "tokenizer.h"

static uint64_t rng_state = 12345;
static uint64_t rnd(void) { return tm_test_xorshift(&rng_state); }

/* random text: ASCII words, spaces/newlines, some multi-byte UTF-8, some
 * invalid bytes */
static size_t random_text(uint8_t *buf, size_t cap) {
  size_t n = rnd() % cap;
  static const char *const pieces[] = {"the", " cat", "'s", " ", "  ", "\n", "\r\n", "123", "4567",
                                       "!!", " ?", "é", "日本", "\xF0\x9F\x98\x80", "\xff", "\x80",
                                       "\t", "<|endoftext|>", "ab", "aa", "Über", "x"};
  size_t o = 0;
  while (o < n) {
    const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
    size_t l = strlen(p);
    if (o + l > n) break;
    memcpy(buf + o, p, l);
    o += l;
  }
  return o;
}

static int roundtrip(const tm_tokenizer *tok, tm_encoder *enc, const uint8_t *s, size_t n,
                     unsigned flags) {
  tm_ids ids = {0};
  tm_error err = {0};
  uint8_t *out = NULL;
  size_t ol = 0, oc = 0;
  int ok = tm_encoder_encode(enc, s, n, flags, &ids, &err) == 0 &&
           tm_tokenizer_decode(tok, ids.ids, ids.len, &out, &ol, &oc, &err) == 0 && ol == n &&
           (n == 0 || !memcmp(out, s, n));
  free(out);
  tm_ids_free(&ids);
  return ok;
}

/* Reference BPE: the lowest-rank adjacent pair, leftmost, by byte strings. */
typedef struct {
  uint8_t b[64];
  size_t n;
} piece;

static void test_bytelevel(void) {
  tm_error err = {0};
  tm_tokenizer *tok;
  CHECK(tm_tokenizer_new_bytelevel(&tok, TM_PRETOK_GPT2, &err) == 0);
  CHECK(tm_tokenizer_vocab_size(tok) == 257);
  CHECK(tm_tokenizer_eot_id(tok) == 256);
  CHECK(tm_tokenizer_missing_bytes(tok) == 0);
  /* alphabet order: '!' (0x21) first, byte 0x00 spelled U+0100 at 188 */
  size_t l;
  CHECK(tm_tokenizer_token(tok, 0, &l)[0] == '!' && l == 1);
  CHECK(tm_tokenizer_token(tok, 188, &l)[0] == 0);
  CHECK(tm_tokenizer_token_id(tok, "<|endoftext|>", 13) == 256);
  char path[] = "/tmp/tm_tok_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  CHECK(tm_tokenizer_save(tok, path, &err) == 0);
  tm_tokenizer *back;
  CHECKF(tm_tokenizer_load(&back, path, &err) == 0, "%s", err.msg);
  if (back) {
    CHECK(tm_tokenizer_hash(back) == tm_tokenizer_hash(tok));
    CHECK(tm_tokenizer_vocab_size(back) == 257);
    CHECK(tm_tokenizer_eot_id(back) == 256);
    tm_encoder *enc = tm_encoder_new(back);
    uint8_t buf[600];
    for (int i = 0; i < 300; i++) {
      size_t n = random_text(buf, sizeof buf);
      CHECK(roundtrip(back, enc, buf, n, 0));
      CHECK(roundtrip(back, enc, buf, n, TM_ENCODE_ALLOW_SPECIAL));
    }
    tm_ids ids = {0};
    CHECK(tm_encoder_encode(enc, "a<|endoftext|>", 14, TM_ENCODE_ALLOW_SPECIAL, &ids, &err) == 0);
    CHECK(ids.len == 2 && ids.ids[1] == 256);
    ids.len = 0;
    CHECK(tm_encoder_encode(enc, "a<|endoftext|>", 14, 0, &ids, &err) == 0);
    CHECK(ids.len == 14);
    tm_ids_free(&ids);
    tm_encoder_free(enc);
    tm_tokenizer_free(back);
  }
  unlink(path);
  tm_tokenizer_free(tok);
}

/* A small tokenizer with merges (a a)->aa, (aa a)->aaa, (t h)->th, (th e)->the,
 * (Ġ the) and (aa aa). */
static tm_tokenizer *small_tokenizer(tm_pretok_kind kind) {
  const char *extra[] = {"aa", "aaa", "th", "the", " the", "aaaa"};
  const uint8_t *toks[256 + 6 + 1];
  uint32_t lens[256 + 6 + 1];
  uint8_t special[256 + 6 + 1] = {0};
  uint8_t bytes[256];
  uint32_t n = 0;
  for (int b = 0; b < 256; b++) bytes[b] = (uint8_t)b, toks[n] = &bytes[b], lens[n++] = 1;
  for (int i = 0; i < 6; i++) toks[n] = (const uint8_t *)extra[i], lens[n++] = (uint32_t)strlen(extra[i]);
  toks[n] = (const uint8_t *)"<|endoftext|>", lens[n] = 13, special[n++] = 1;
  uint32_t merges[6][2] = {{'a', 'a'}, {256, 'a'}, {'t', 'h'}, {258, 'e'}, {' ', 259}, {256, 256}};
  tm_tokenizer_def def = {.pattern = kind, .n_tokens = n, .tokens = toks, .token_len = lens,
                          .special = special, .n_merges = 6, .merges = (const uint32_t(*)[2])merges};
  tm_tokenizer *tok = NULL;
  tm_error err = {0};
  CHECKF(tm_tokenizer_new(&tok, &def, &err) == 0, "%s", err.msg);
  return tok;
}

static void expect(tm_encoder *enc, const char *text, const uint32_t *want, size_t nwant) {
  tm_ids ids = {0};
  tm_error err = {0};
  CHECK(tm_encoder_encode(enc, text, strlen(text), 0, &ids, &err) == 0);
  int same = ids.len == nwant && !memcmp(ids.ids, want, nwant * sizeof *want);
  CHECKF(same, "encode(\"%s\"): got %zu ids", text, ids.len);
  tm_ids_free(&ids);
}

static void test_merges(void) {
  tm_tokenizer *tok = small_tokenizer(TM_PRETOK_GPT2);
  if (!tok) return;
  tm_encoder *enc = tm_encoder_new(tok);
  /* "aaaaa": (a a) first at 0 -> aa a a a -> (a a) at 2 -> aa aa a -> (aa a) rank 1
   * before (aa aa) rank 5: aa aaa. */
  expect(enc, "aaaaa", (uint32_t[]){256, 257}, 2);
  expect(enc, "aaaaa", (uint32_t[]){256, 257}, 2); /* from the cache */
  expect(enc, " the the", (uint32_t[]){260, 260}, 2);
  expect(enc, "the", (uint32_t[]){259}, 1);
  expect(enc, "aaaa", (uint32_t[]){261}, 1); /* (a a) at 0 and 2 before (aa a), then (aa aa) */

  /* long run: heap path == scan path result structure; 1 MB of 'a' in
   * linear-ish time: aa aa ... (rank 0 pairs, leftmost), then (aa aa). */
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  big[n] = 0;
  tm_ids ids = {0};
  tm_error err = {0};
  CHECK(tm_encoder_encode(enc, big, n, 0, &ids, &err) == 0);
  /* (a a) everywhere -> 2^19 "aa"; no (aa a); (aa aa) -> 2^18 "aaaa" */
  int all = ids.len == n / 4;
  for (size_t i = 0; all && i < ids.len; i++) all = ids.ids[i] == 261;
  CHECKF(all, "1 MB of a: %zu ids", ids.len);
  /* lengths between the short and the long path agree with a model:
   * count of a's k -> as computed by the scan path for small k */
  for (size_t k = 1; k < 200; k++) {
    ids.len = 0;
    CHECK(tm_encoder_encode(enc, big, k, 0, &ids, &err) == 0);
    uint8_t *out = NULL;
    size_t ol = 0, oc = 0;
    CHECK(tm_tokenizer_decode(tok, ids.ids, ids.len, &out, &ol, &oc, &err) == 0 && ol == k);
    free(out);
    /* dropout with p = 0 gives the same ids */
    tm_ids d = {0};
    CHECK(tm_encoder_encode_dropout(enc, big, k, 0, 0.0, 7, &d, &err) == 0);
    CHECK(d.len == ids.len && !memcmp(d.ids, ids.ids, d.len * 4));
    tm_ids_free(&d);
  }
  free(big);
  tm_ids_free(&ids);

  /* dropout: reproducible for a seed, different from plain for p = 0.5,
   * every merge skipped for p = 1, and always round-trips */
  const char *text = " the the aaaaaaa the aaaa the the";
  size_t tl = strlen(text);
  tm_ids a = {0}, b = {0}, plain = {0};
  CHECK(tm_encoder_encode(enc, text, tl, 0, &plain, &err) == 0);
  int differ = 0;
  for (uint64_t seed = 1; seed < 50; seed++) {
    a.len = b.len = 0;
    CHECK(tm_encoder_encode_dropout(enc, text, tl, 0, 0.5, seed, &a, &err) == 0);
    CHECK(tm_encoder_encode_dropout(enc, text, tl, 0, 0.5, seed, &b, &err) == 0);
    CHECK(a.len == b.len && !memcmp(a.ids, b.ids, a.len * 4));
    differ |= a.len != plain.len;
    uint8_t *out = NULL;
    size_t ol = 0, oc = 0;
    CHECK(tm_tokenizer_decode(tok, a.ids, a.len, &out, &ol, &oc, &err) == 0 && ol == tl &&
          !memcmp(out, text, tl));
    free(out);
  }
  CHECK(differ);
  a.len = 0;
  CHECK(tm_encoder_encode_dropout(enc, text, tl, 0, 1.0, 3, &a, &err) == 0);
  CHECK(a.len == tl);
  CHECK(tm_encoder_encode_dropout(enc, text, tl, 0, 1.5, 3, &a, &err) < 0);
  tm_ids_free(&a), tm_ids_free(&b), tm_ids_free(&plain);

  /* save + load keeps ids and hash */
  char *json;
  size_t jl;
  tm_tokenizer *back = NULL;
  CHECK(tm_tokenizer_to_json(tok, &json, &jl, &err) == 0);
  CHECKF(tm_tokenizer_load_json(&back, json, jl, "mem", &err) == 0, "%s", err.msg);
  if (back) {
    CHECK(tm_tokenizer_hash(back) == tm_tokenizer_hash(tok));
    CHECK(tm_tokenizer_n_merges(back) == 6);
    tm_encoder *e2 = tm_encoder_new(back);
    expect(e2, "aaaaa", (uint32_t[]){256, 257}, 2);
    expect(e2, " the the", (uint32_t[]){260, 260}, 2);
    tm_encoder_free(e2);
    tm_tokenizer_free(back);
  }
  free(json);
  tm_encoder_free(enc);
  tm_tokenizer_free(tok);
}

static void reject(const char *json, const char *field) {
  tm_tokenizer *t = NULL;
  tm_error err = {0};
  int rc = tm_tokenizer_load_json(&t, json, strlen(json), "x.json", &err);
  CHECKF(rc < 0 && strstr(err.msg, field) && strstr(err.msg, "x.json"), "want error naming %s, got "
         "rc=%d msg=%s", field, rc, err.msg);
  tm_tokenizer_free(t);
}

static void test_load_errors(void) {
  const char *bl = "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false}";
  char buf[1024];
  reject("{", "not JSON");
  reject("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model.type");
  reject("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", "model.type");
  snprintf(buf, sizeof buf, "{\"normalizer\":{\"type\":\"NFC\"},%s,\"model\":{\"type\":\"BPE\","
           "\"vocab\":{\"a\":0},\"merges\":[]}}", bl);
  reject(buf, "normalizer");
  reject("{\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"model\":{\"type\":\"BPE\",\"vocab\":"
         "{\"a\":0},\"merges\":[]}}", "pre_tokenizer");
  reject("{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":"
         "{\"a\":0},\"merges\":[]}}", "add_prefix_space");
  snprintf(buf, sizeof buf, "{%s,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-2},"
           "\"merges\":[]}}", bl);
  reject(buf, "model.vocab[\"b\"]");
  /* an unused id is accepted: it decodes to nothing */
  snprintf(buf, sizeof buf, "{%s,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":2},"
           "\"merges\":[]}}", bl);
  {
    tm_tokenizer *h = NULL;
    tm_error e2 = {0};
    CHECKF(tm_tokenizer_load_json(&h, buf, strlen(buf), "holes.json", &e2) == 0, "%s", e2.msg);
    if (h) {
      uint8_t *o = NULL;
      size_t ol = 0, oc = 0;
      CHECK(tm_tokenizer_vocab_size(h) == 3);
      CHECK(tm_tokenizer_decode(h, (uint32_t[]){0, 1, 2}, 3, &o, &ol, &oc, &e2) == 0 && ol == 2 &&
            o[0] == 'a' && o[1] == 'b');
      free(o);
      tm_tokenizer_free(h);
    }
  }
  snprintf(buf, sizeof buf, "{%s,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},"
           "\"merges\":[\"a b\"]}}", bl);
  reject(buf, "model.merges[0]");
  snprintf(buf, sizeof buf, "{%s,\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":"
           "{\"a\":0},\"merges\":[]}}", bl);
  reject(buf, "byte_fallback");
  /* accepted: both merge forms, ignore_merges, missing byte symbols dropped */
  snprintf(buf, sizeof buf, "{%s,\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":"
           "{\"a\":0,\"b\":1,\"ab\":2,\"abb\":3},\"merges\":[\"a b\",[\"ab\",\"b\"]]}}", bl);
  tm_tokenizer *t = NULL;
  tm_error err = {0};
  CHECKF(tm_tokenizer_load_json(&t, buf, strlen(buf), "ok.json", &err) == 0, "%s", err.msg);
  if (t) {
    CHECK(tm_tokenizer_missing_bytes(t) == 254);
    CHECK(tm_tokenizer_eot_id(t) == -1);
    tm_encoder *e = tm_encoder_new(t);
    expect(e, "abb", (uint32_t[]){3}, 1);
    expect(e, "abcb", (uint32_t[]){3}, 1); /* c dropped as HF does, then a b b merges */
    tm_encoder_free(e);
    tm_tokenizer_free(t);
  }
}

/* several specials: leftmost, longest at the same offset, and many
 * occurrences of one while another never occurs (linear search) */
static void test_specials(void) {
  const char *sp[] = {"<|endoftext|>", "<|pad|>", "<|pad|>x"};
  const uint8_t *toks[259];
  uint32_t lens[259];
  uint8_t special[259] = {0}, bytes[256];
  for (int b = 0; b < 256; b++) bytes[b] = (uint8_t)b, toks[b] = &bytes[b], lens[b] = 1;
  for (int i = 0; i < 3; i++)
    toks[256 + i] = (const uint8_t *)sp[i], lens[256 + i] = (uint32_t)strlen(sp[i]),
               special[256 + i] = 1;
  tm_tokenizer_def def = {.n_tokens = 259, .tokens = toks, .token_len = lens, .special = special};
  tm_tokenizer *tok = NULL;
  tm_error err = {0};
  CHECK(tm_tokenizer_new(&tok, &def, &err) == 0);
  if (!tok) return;
  tm_encoder *enc = tm_encoder_new(tok);
  tm_ids ids = {0};
  const char *text = "a<|pad|>xb<|pad|>";
  CHECK(tm_encoder_encode(enc, text, strlen(text), TM_ENCODE_ALLOW_SPECIAL, &ids, &err) == 0);
  CHECK(ids.len == 4 && ids.ids[0] == 'a' && ids.ids[1] == 258 && ids.ids[2] == 'b' &&
        ids.ids[3] == 257);
  size_t n = 200000 * 13;
  char *big = malloc(n);
  for (size_t i = 0; i < n; i += 13) memcpy(big + i, "<|endoftext|>", 13);
  ids.len = 0;
  CHECK(tm_encoder_encode(enc, big, n, TM_ENCODE_ALLOW_SPECIAL, &ids, &err) == 0);
  int all = ids.len == 200000;
  for (size_t i = 0; all && i < ids.len; i++) all = ids.ids[i] == 256;
  CHECK(all);
  free(big);
  tm_ids_free(&ids);
  tm_encoder_free(enc);
  tm_tokenizer_free(tok);
}

int main(void) {
  /* byte-level spelling */
  for (int b = 0; b < 256; b++) CHECK(tm_bytelevel_byte(tm_bytelevel_cp((uint8_t)b)) == b);
  CHECK(tm_bytelevel_cp(' ') == 0x120 && tm_bytelevel_cp(0) == 0x100 && tm_bytelevel_cp(0xAD) == 0x143);
  test_bytelevel();
  test_merges();
  test_load_errors();
  test_specials();
  return tm_test_finish("test_tokenizer");
}
