/* jsonl_fields.c - "text" and "id" of a checked JSONL line; see jsonl_fields.h. */
#include "jsonl_fields.h"

#include "readers/json_line.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The replacement check: the line with the text value emptied (a copy
 * without the string's contents) goes through tm_jsonl_check. */
static int rest_is_valid(const char *line, size_t len, const char *ts, size_t tn) {
  char small[4096];
  size_t pre = (size_t)(ts - line), n = len - tn;
  char *m = n <= sizeof small ? small : malloc(n);
  if (!m) return -1;
  memcpy(m, line, pre);
  memcpy(m + pre, ts + tn, len - pre - tn);
  const char *why;
  size_t col;
  int ok = tm_jsonl_check(m, n, "text", &why, &col) == TM_JSONL_OK;
  if (m != small) free(m);
  return ok;
}

/* Is the value span s[0..n) an integer to jansson (digits, a leading '-')? */
static int is_integer(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-') return 0;
  return n > 0;
}

int tm_jsonl_fields_parse(const char *line, size_t len, tm_jsonl_fields *f) {
  memset(f, 0, sizeof *f);
  tm_json_walk w;
  tm_json_member m, text = {0}, id = {0};
  int have_text = 0, have_id = 0, r;
  if (tm_json_walk_begin(&w, line, len) < 0) return 0;
  while ((r = tm_json_walk_next(&w, &m)) == 1) {
    /* the last of repeated names counts, as json_object_get sees it */
    int eq = tm_json_str_equals(m.name, m.name_len, m.name_escaped, "text", 4);
    if (eq < 0) return -1;
    if (eq) {
      have_text = m.kind == '"';
      text = m;
      continue;
    }
    eq = tm_json_str_equals(m.name, m.name_len, m.name_escaped, "id", 2);
    if (eq < 0) return -1;
    if (eq) have_id = 1, id = m;
  }
  if (r < 0 || !have_text) return 0;
  if (text.val_escaped || (have_id && id.kind == '"' && id.val_escaped)) {
    f->buf = malloc(len + 1);
    if (!f->buf) return -1;
  }
  /* the text under jansson's string rules, decoded when it has escapes */
  tm_json_str s;
  const char *q = tm_json_str_scan(text.val, text.val + text.val_len + 1,
                                   text.val_escaped ? f->buf : NULL, &s);
  int ok = q == text.val + text.val_len ? rest_is_valid(line, len, text.val, text.val_len) : 0;
  if (ok <= 0) {
    free(f->buf);
    f->buf = NULL;
    return ok;
  }
  f->text = text.val_escaped ? f->buf : text.val;
  f->text_len = s.len;
  if (!have_id) return 1;
  if (id.kind == '"') {
    f->id_kind = TM_JSONL_ID_STRING;
    if (id.val_escaped) { /* valid: the check read it */
      char *o = f->buf + (text.val_escaped ? s.len : 0);
      tm_json_str_scan(id.val, id.val + id.val_len + 1, o, &s);
      f->id = o;
      f->id_len = s.len;
    } else {
      f->id = id.val;
      f->id_len = id.val_len;
    }
  } else if (id.kind == '0' && is_integer(id.val, id.val_len)) {
    char num[32];
    size_t k = id.val_len < sizeof num - 1 ? id.val_len : sizeof num - 1;
    memcpy(num, id.val, k);
    num[k] = 0;
    f->id_kind = TM_JSONL_ID_INTEGER;
    f->id_len = (size_t)snprintf(f->idnum, sizeof f->idnum, "%lld", strtoll(num, NULL, 10));
    f->id = f->idnum;
  }
  return 1;
}
