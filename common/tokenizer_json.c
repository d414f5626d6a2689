/* tokenizer_json.c - reading and writing HF tokenizers' tokenizer.json.
 *
 * Only byte-level BPE is accepted (see tokenizer.h for the exact set of
 * fields); anything that would change the ids in a way tokenmill does not
 * implement is rejected with the name of the field, never ignored. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytelevel.h"
#include "io.h"
#include "tokenizer_impl.h"

/* ---- writing ---------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->cap - b->len < n + 1) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* A JSON string literal of n UTF-8 bytes. */
static void sb_json_str(sbuf *b, const char *s, size_t n) {
  sb_put(b, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    sb_put(b, s + start, i - start);
    char esc[8];
    if (c == '"') sb_str(b, "\\\"");
    else if (c == '\\') sb_str(b, "\\\\");
    else if (c == '\n') sb_str(b, "\\n");
    else if (c == '\r') sb_str(b, "\\r");
    else if (c == '\t') sb_str(b, "\\t");
    else {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      sb_str(b, esc);
    }
    start = i + 1;
  }
  sb_put(b, s + start, n - start);
  sb_put(b, "\"", 1);
}

/* The spelled form of token id (special tokens: their text). */
static size_t spelled(const struct tm_tokenizer *t, uint32_t id, char *buf) {
  const uint8_t *p = t->tok_data + t->tok_off[id];
  size_t n = t->tok_off[id + 1] - t->tok_off[id];
  if (t->special[id] || (t->unspellable && t->unspellable[id])) {
    memcpy(buf, p, n);
    buf[n] = 0;
    return n;
  }
  return tm_bytelevel_spell(p, n, buf);
}

int tm_tok_write_json(const struct tm_tokenizer *t, char **out, size_t *len, tm_error *err) {
  sbuf b = {0};
  size_t maxlen = 0;
  for (uint32_t i = 0; i < t->n_tokens; i++)
    if (t->tok_off[i + 1] - t->tok_off[i] > maxlen) maxlen = t->tok_off[i + 1] - t->tok_off[i];
  char *buf = malloc(4 * maxlen + 8), num[64];
  if (!buf) return tm_err(err, TM_ENOMEM, "tokenizer: out of memory");
  sb_str(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
             "  \"added_tokens\": [");
  int first = 1;
  for (uint32_t i = 0; i < t->n_tokens; i++) {
    if (!t->special[i]) continue;
    snprintf(num, sizeof num, "%s\n    {\n      \"id\": %u,\n      \"content\": ", first ? "" : ",",
             i);
    sb_str(&b, num);
    sb_json_str(&b, (const char *)t->tok_data + t->tok_off[i], t->tok_off[i + 1] - t->tok_off[i]);
    sb_str(&b, ",\n      \"single_word\": false,\n      \"lstrip\": false,\n      \"rstrip\": "
               "false,\n      \"normalized\": false,\n      \"special\": true\n    }");
    first = 0;
  }
  sb_str(&b, first ? "],\n" : "\n  ],\n");
  sb_str(&b, "  \"normalizer\": null,\n  \"pre_tokenizer\": ");
  if (t->pattern == TM_PRETOK_GPT4) {
    sb_str(&b, "{\n    \"type\": \"Sequence\",\n    \"pretokenizers\": [\n      {\n        \"type\": "
               "\"Split\",\n        \"pattern\": {\n          \"Regex\": ");
    const char *re = tm_pretok_regex(TM_PRETOK_GPT4);
    sb_json_str(&b, re, strlen(re));
    sb_str(&b, "\n        },\n        \"behavior\": \"Isolated\",\n        \"invert\": false\n      },"
               "\n      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n"
               "        \"trim_offsets\": true,\n        \"use_regex\": false\n      }\n    ]\n  },\n");
  } else {
    sb_str(&b, "{\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": false,\n    "
               "\"trim_offsets\": true,\n    \"use_regex\": true\n  },\n");
  }
  sb_str(&b, "  \"post_processor\": null,\n  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    "
             "\"add_prefix_space\": true,\n    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n"
             "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": ");
  if (t->dropout > 0) {
    snprintf(num, sizeof num, "%.17g", t->dropout);
    sb_str(&b, num);
  } else sb_str(&b, "null");
  sb_str(&b, ",\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    "
             "\"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n"
             "    \"ignore_merges\": ");
  sb_str(&b, t->ignore_merges ? "true" : "false");
  sb_str(&b, ",\n    \"vocab\": {");
  for (uint32_t i = 0; i < t->n_tokens; i++) {
    sb_str(&b, i ? ",\n      " : "\n      ");
    size_t n = spelled(t, i, buf);
    sb_json_str(&b, buf, n);
    snprintf(num, sizeof num, ": %u", i);
    sb_str(&b, num);
  }
  sb_str(&b, "\n    },\n    \"merges\": [");
  for (uint32_t r = 0; r < t->n_merges; r++) {
    sb_str(&b, r ? ",\n      " : "\n      ");
    size_t n = spelled(t, t->merges[r][0], buf);
    buf[n++] = ' ';
    n += spelled(t, t->merges[r][1], buf + n);
    sb_json_str(&b, buf, n);
  }
  sb_str(&b, t->n_merges ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n");
  free(buf);
  if (b.oom) {
    free(b.p);
    return tm_err(err, TM_ENOMEM, "tokenizer: out of memory writing tokenizer.json");
  }
  *out = b.p;
  *len = b.len;
  return 0;
}

/* ---- reading ---------------------------------------------------------- */

static int is_null_or_absent(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return !v || json_is_null(v);
}

static int bool_field(json_t *o, const char *key, int def) {
  json_t *v = json_object_get(o, key);
  return json_is_boolean(v) ? json_is_true(v) : def;
}

static const char *type_of(json_t *o) {
  const char *s = json_string_value(json_object_get(o, "type"));
  return s ? s : "";
}

/* pre_tokenizer -> pattern, or an error naming the field */
static int read_pretok(json_t *pt, const char *name, tm_pretok_kind *kind, tm_error *err) {
  if (!json_is_object(pt))
    return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer: must be ByteLevel or "
                  "Sequence[Split, ByteLevel] (byte-level BPE), found %s", name,
                  pt ? "a non-object" : "none");
  if (!strcmp(type_of(pt), "ByteLevel")) {
    if (bool_field(pt, "add_prefix_space", 1))
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.add_prefix_space: true is not "
                    "supported", name);
    if (!bool_field(pt, "use_regex", 1))
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.use_regex: false (no splitting) "
                    "is not supported", name);
    *kind = TM_PRETOK_GPT2;
    return 0;
  }
  if (!strcmp(type_of(pt), "Sequence")) {
    json_t *a = json_object_get(pt, "pretokenizers");
    if (!json_is_array(a) || json_array_size(a) != 2)
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers: expected "
                    "[Split, ByteLevel]", name);
    json_t *sp = json_array_get(a, 0), *bl = json_array_get(a, 1);
    if (strcmp(type_of(sp), "Split") || strcmp(type_of(bl), "ByteLevel"))
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers: expected "
                    "[Split, ByteLevel], found [%s, %s]", name, type_of(sp), type_of(bl));
    const char *re = json_string_value(json_object_get(json_object_get(sp, "pattern"), "Regex"));
    const char *beh = json_string_value(json_object_get(sp, "behavior"));
    if (!re)
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers[0].pattern: "
                    "expected {\"Regex\": ...}", name);
    if (!strcmp(re, tm_pretok_regex(TM_PRETOK_GPT4))) *kind = TM_PRETOK_GPT4;
    else if (!strcmp(re, tm_pretok_regex(TM_PRETOK_GPT2))) *kind = TM_PRETOK_GPT2;
    else
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers[0].pattern.Regex: "
                    "only the GPT-2 and GPT-4 patterns are supported", name);
    if (!beh || strcmp(beh, "Isolated") || bool_field(sp, "invert", 0))
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers[0].behavior: only "
                    "\"Isolated\" without invert is supported", name);
    if (bool_field(bl, "add_prefix_space", 1) || bool_field(bl, "use_regex", 1))
      return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.pretokenizers[1]: ByteLevel "
                    "must have add_prefix_space=false and use_regex=false", name);
    return 0;
  }
  return tm_err(err, TM_EFORMAT, "%s: field pre_tokenizer.type: \"%s\" is not supported", name,
                type_of(pt));
}

#define MAX_VOCAB (1u << 24)

int tm_tokenizer_load_json(tm_tokenizer **out, const char *json, size_t len, const char *name,
                           tm_error *err) {
  *out = NULL;
  json_error_t jerr;
  json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
  if (!root)
    return tm_err(err, TM_EFORMAT, "%s: offset %d (line %d): not JSON: %s", name, jerr.position,
                  jerr.line, jerr.text);
  int rc = 0;
  struct tm_tokenizer *t = NULL;
  char *tmp = NULL;
  if (!json_is_object(root)) {
    rc = tm_err(err, TM_EFORMAT, "%s: the top level is not a JSON object", name);
    goto done;
  }
  json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model: missing", name);
    goto done;
  }
  const char *mtype = json_string_value(json_object_get(model, "type"));
  if (mtype && strcmp(mtype, "BPE")) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model.type: \"%s\" is not supported (only BPE)", name,
                mtype);
    goto done;
  }
  if (!is_null_or_absent(root, "normalizer")) {
    rc = tm_err(err, TM_EFORMAT, "%s: field normalizer: \"%s\" is not supported (must be null)",
                name, type_of(json_object_get(root, "normalizer")));
    goto done;
  }
  json_t *dec = json_object_get(root, "decoder");
  if (dec && !json_is_null(dec) && strcmp(type_of(dec), "ByteLevel")) {
    rc = tm_err(err, TM_EFORMAT, "%s: field decoder.type: \"%s\" is not supported", name,
                type_of(dec));
    goto done;
  }
  json_t *pp = json_object_get(root, "post_processor");
  if (pp && !json_is_null(pp) && strcmp(type_of(pp), "ByteLevel")) {
    rc = tm_err(err, TM_EFORMAT, "%s: field post_processor.type: \"%s\" is not supported", name,
                type_of(pp));
    goto done;
  }
  tm_pretok_kind kind = TM_PRETOK_GPT2;
  if ((rc = read_pretok(json_object_get(root, "pre_tokenizer"), name, &kind, err)) < 0) goto done;
  static const char *const must_be_empty[] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int i = 0; i < 2; i++) {
    json_t *v = json_object_get(model, must_be_empty[i]);
    if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v))) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.%s: not supported (must be null)", name,
                  must_be_empty[i]);
      goto done;
    }
  }
  if (bool_field(model, "byte_fallback", 0)) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model.byte_fallback: true is not supported", name);
    goto done;
  }
  json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
  json_t *added = json_object_get(root, "added_tokens");
  if (!json_is_object(vocab) || !json_is_array(merges)) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model.%s: missing or of the wrong type", name,
                json_is_object(vocab) ? "merges" : "vocab");
    goto done;
  }
  /* the size of the id space */
  uint64_t n = 0;
  const char *key;
  json_t *val;
  json_object_foreach(vocab, key, val) {
    json_int_t id = json_integer_value(val);
    if (!json_is_integer(val) || id < 0 || id >= MAX_VOCAB) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.vocab[\"%s\"]: id must be an integer in "
                  "[0, %u)", name, key, MAX_VOCAB);
      goto done;
    }
    if ((uint64_t)id + 1 > n) n = (uint64_t)id + 1;
  }
  size_t na = json_is_array(added) ? json_array_size(added) : 0;
  for (size_t i = 0; i < na; i++) {
    json_t *a = json_array_get(added, i);
    json_t *idv = json_object_get(a, "id");
    json_int_t id = json_integer_value(idv);
    if (!json_is_integer(idv) || id < 0 || id >= MAX_VOCAB ||
        !json_is_string(json_object_get(a, "content"))) {
      rc = tm_err(err, TM_EFORMAT, "%s: field added_tokens[%zu]: needs an integer id in [0, %u) "
                  "and a string content", name, i, MAX_VOCAB);
      goto done;
    }
    if ((uint64_t)id + 1 > n) n = (uint64_t)id + 1;
  }
  if (!n) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model.vocab: empty", name);
    goto done;
  }
  t = calloc(1, sizeof *t);
  const char **strs = t ? calloc(n, sizeof *strs) : NULL;
  size_t *slen = strs ? calloc(n, sizeof *slen) : NULL;
  if (!t || !strs || !slen) {
    free(strs);
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", name);
    goto done;
  }
  t->n_tokens = (uint32_t)n;
  t->pattern = kind;
  t->special = calloc(n, 1);
  t->unspellable = calloc(n, 1);
  t->tok_off = malloc((n + 1) * sizeof *t->tok_off);
  if (!t->special || !t->unspellable || !t->tok_off) { /* special[] is written below */
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", name);
    goto done_strs;
  }
  size_t total = 0;
  json_object_foreach(vocab, key, val) {
    json_int_t id = json_integer_value(val);
    if (strs[id]) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.vocab[\"%s\"]: id %lld is used twice", name,
                  key, (long long)id);
      goto done_strs;
    }
    strs[id] = key;
    slen[id] = strlen(key);
    total += slen[id];
  }
  for (size_t i = 0; i < na; i++) {
    json_t *a = json_array_get(added, i);
    json_int_t id = json_integer_value(json_object_get(a, "id"));
    json_t *cv = json_object_get(a, "content");
    const char *c = json_string_value(cv);
    size_t cl = json_string_length(cv);
    if (strs[id] && (slen[id] != cl || memcmp(strs[id], c, cl))) {
      rc = tm_err(err, TM_EFORMAT, "%s: field added_tokens[%zu]: id %lld is \"%s\" in "
                  "model.vocab", name, i, (long long)id, strs[id]);
      goto done_strs;
    }
    if (!cl) {
      rc = tm_err(err, TM_EFORMAT, "%s: field added_tokens[%zu]: empty content", name, i);
      goto done_strs;
    }
    if (!strs[id]) total += cl;
    strs[id] = c;
    slen[id] = cl;
    t->special[id] = 1;
  }
  t->tok_data = malloc(total + 1);
  if (!t->special || !t->unspellable || !t->tok_off || !t->tok_data) {
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", name);
    goto done_strs;
  }
  size_t off = 0;
  for (size_t id = 0; id < n; id++) {
    t->tok_off[id] = off;
    if (!strs[id]) { /* an unused id (cl100k has some): no bytes, never produced */
      t->unspellable[id] = 1;
      continue;
    }
    long m = t->special[id] ? -1 : tm_bytelevel_unspell(strs[id], slen[id], t->tok_data + off);
    if (m <= 0) {
      memcpy(t->tok_data + off, strs[id], slen[id]);
      m = (long)slen[id];
      if (!t->special[id]) t->unspellable[id] = 1;
    }
    off += (size_t)m;
  }
  t->tok_off[n] = off;
  /* merges: (left, right) ids by their spelled strings, new id by the
   * concatenated string, all through model.vocab as HF does */
  size_t nm = json_array_size(merges);
  t->merges = malloc((nm + 1) * sizeof *t->merges);
  size_t maxs = 0;
  for (size_t id = 0; id < n; id++)
    if (slen[id] > maxs) maxs = slen[id];
  tmp = malloc(2 * maxs + 2);
  if (!t->merges || !tmp) {
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", name);
    goto done_strs;
  }
  for (size_t r = 0; r < nm; r++) {
    json_t *m = json_array_get(merges, r);
    const char *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    if (json_is_string(m)) {
      const char *s = json_string_value(m);
      const char *sp = strchr(s, ' ');
      if (sp && !strchr(sp + 1, ' ')) a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(b);
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
      a = json_string_value(json_array_get(m, 0)), al = json_string_length(json_array_get(m, 0));
      b = json_string_value(json_array_get(m, 1)), bl = json_string_length(json_array_get(m, 1));
    }
    if (!a || al > maxs || bl > maxs) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.merges[%zu]: expected \"a b\" or [\"a\", "
                  "\"b\"] of vocabulary tokens", name, r);
      goto done_strs;
    }
    memcpy(tmp, a, al), tmp[al] = 0;
    json_t *li = json_object_get(vocab, tmp);
    memcpy(tmp, b, bl), tmp[bl] = 0;
    json_t *ri = json_object_get(vocab, tmp);
    memcpy(tmp, a, al), memcpy(tmp + al, b, bl), tmp[al + bl] = 0;
    json_t *ni = json_object_get(vocab, tmp);
    if (!li || !ri || !ni) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.merges[%zu]: token \"%s\" is not in "
                  "model.vocab", name, r, !li ? "left" : !ri ? "right" : tmp);
      goto done_strs;
    }
    t->merges[r][0] = (uint32_t)json_integer_value(li);
    t->merges[r][1] = (uint32_t)json_integer_value(ri);
    t->merges[r][2] = (uint32_t)json_integer_value(ni);
  }
  t->n_merges = (uint32_t)nm;
  t->ignore_merges = bool_field(model, "ignore_merges", 0);
  json_t *dv = json_object_get(model, "dropout");
  if (json_is_number(dv)) {
    t->dropout = json_number_value(dv);
    if (!(t->dropout >= 0 && t->dropout <= 1)) {
      rc = tm_err(err, TM_EFORMAT, "%s: field model.dropout: must be in [0, 1]", name);
      goto done_strs;
    }
  }
  if ((rc = tm_tok_finish(t, name, err)) < 0) goto done_strs;
  if (!is_null_or_absent(model, "unk_token") && t->missing_bytes) {
    rc = tm_err(err, TM_EFORMAT, "%s: field model.unk_token: not supported when the vocabulary "
                "lacks byte symbols (%d missing)", name, t->missing_bytes);
    goto done_strs;
  }
  t->json = malloc(len + 1);
  if (!t->json) {
    rc = tm_err(err, TM_ENOMEM, "%s: out of memory", name);
    goto done_strs;
  }
  memcpy(t->json, json, len);
  t->json[len] = 0;
  t->json_len = len;
  t->hash = XXH3_64bits(json, len);
done_strs:
  free(strs);
  free(slen);
done:
  free(tmp);
  json_decref(root);
  if (rc < 0) tm_tokenizer_free(t);
  else *out = t;
  return rc;
}

int tm_tokenizer_load(tm_tokenizer **out, const char *path, tm_error *err) {
  char *data;
  size_t len;
  *out = NULL;
  int rc = tm_io_read_file(path, TM_TOKENIZER_MAX_JSON, &data, &len, err);
  if (rc < 0) return rc;
  rc = tm_tokenizer_load_json(out, data, len, path, err);
  free(data);
  return rc;
}
