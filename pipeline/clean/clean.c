/* clean.c - the clean stage: the steps in order, verdicts and counters;
 * see clean.h. Text moves between two scratch buffers (a, b); `cur` is the
 * text so far, and each step writes the other buffer. */
#include "clean.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "charset.h"
#include "html_text.h"
#include "io.h"
#include "langid.h"
#include "words.h"

const char *const tm_clean_step_names[TM_STEP_COUNT] = {
    "repair", "html", "normalize", "source_rules", "c4", "langid",
    "words", "gopher_quality", "gopher_repetition", "fineweb", "pii"};

struct tm_clean {
  tm_clean_params p;
  tm_pii_params pii;
  tm_textbuf buf[2];
  tm_textbuf title;
  tm_html_parser *html;
  tm_words words;
  tm_quality_scratch qs;
  char **bad_words;
  size_t n_bad_words;
  char *bad_words_blob;
  int timing;
  tm_clean_stats st;
};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int load_bad_words(tm_clean *c, const char *path, tm_error *err) {
  size_t len;
  int rc = tm_io_read_file(path, 64u << 20, &c->bad_words_blob, &len, err);
  if (rc < 0) return tm_err_prefix(err, "c4_bad_words_file: ");
  size_t n = 0, cap = 256;
  char **w = malloc(cap * sizeof *w);
  if (!w) return tm_err(err, TM_ENOMEM, "out of memory");
  for (char *s = c->bad_words_blob, *save = NULL, *tok; (tok = strtok_r(s, "\r\n", &save)); s = NULL) {
    while (*tok == ' ') tok++;
    if (!*tok || *tok == '#') continue;
    for (char *q = tok; *q; q++) *q = (char)tolower((unsigned char)*q);
    if (n == cap) {
      char **x = realloc(w, 2 * cap * sizeof *w);
      if (!x) {
        free(w);
        return tm_err(err, TM_ENOMEM, "out of memory");
      }
      w = x;
      cap *= 2;
    }
    w[n++] = tok;
  }
  qsort(w, n, sizeof *w, cmp_str);
  c->bad_words = w;
  c->n_bad_words = n;
  return 0;
}

int tm_clean_new(tm_clean **out, const tm_clean_params *p, tm_error *err) {
  *out = NULL;
  tm_clean *c = calloc(1, sizeof *c);
  if (!c) return tm_err(err, TM_ENOMEM, "out of memory");
  c->p = *p;
  c->pii.email = c->p.pii_email[0] ? c->p.pii_email : NULL;
  c->pii.ipv4 = c->p.pii_ipv4[0] ? c->p.pii_ipv4 : NULL;
  c->pii.ipv6 = c->p.pii_ipv6[0] ? c->p.pii_ipv6 : NULL;
  c->pii.phone = c->p.pii_phone[0] ? c->p.pii_phone : NULL;
  c->words.max_words = (size_t)c->p.max_words;
  int hrc = tm_html_parser_new(&c->html, (tm_html_backend)c->p.html_parser);
  if (hrc < 0) {
    tm_clean_free(c);
    return tm_err(err, -hrc, hrc == -TM_EINVAL ? "html_parser: myhtml is not built in (install libmodest-dev)"
                                               : "out of memory");
  }
  if (c->p.bad_words_file[0]) {
    int rc = load_bad_words(c, c->p.bad_words_file, err);
    if (rc < 0) {
      tm_clean_free(c);
      return rc;
    }
    c->p.c4.bad_words = (const char *const *)c->bad_words;
    c->p.c4.n_bad_words = c->n_bad_words;
  }
  *out = c;
  return 0;
}

void tm_clean_free(tm_clean *c) {
  if (!c) return;
  tm_tb_free(&c->buf[0]);
  tm_tb_free(&c->buf[1]);
  tm_tb_free(&c->title);
  tm_html_parser_free(c->html);
  tm_words_free(&c->words);
  tm_quality_scratch_free(&c->qs);
  free(c->bad_words);
  free(c->bad_words_blob);
  free(c);
}

void tm_clean_set_timing(tm_clean *c, int on) { c->timing = on; }
const tm_clean_stats *tm_clean_get_stats(const tm_clean *c) { return &c->st; }

static tm_rule_stat *rule_slot(tm_rule_stat *arr, int *n, const char *rule) {
  for (int i = 0; i < *n; i++)
    if (arr[i].rule == rule || !strcmp(arr[i].rule, rule)) return &arr[i];
  if (*n >= TM_CLEAN_MAX_RULES) return NULL;
  arr[*n] = (tm_rule_stat){rule, 0, 0};
  return &arr[(*n)++];
}

void tm_clean_stats_merge(tm_clean_stats *into, const tm_clean_stats *f) {
  into->docs_in += f->docs_in;
  into->bytes_in += f->bytes_in;
  into->docs_kept += f->docs_kept;
  into->bytes_kept += f->bytes_kept;
  into->docs_dropped += f->docs_dropped;
  into->bytes_dropped += f->bytes_dropped;
  into->docs_modified += f->docs_modified;
  into->bytes_modified += f->bytes_modified;
  for (int i = 0; i < f->n_drops; i++) {
    tm_rule_stat *s = rule_slot(into->drops, &into->n_drops, f->drops[i].rule);
    if (s) s->docs += f->drops[i].docs, s->bytes += f->drops[i].bytes;
  }
  for (int i = 0; i < f->n_mods; i++) {
    tm_rule_stat *s = rule_slot(into->mods, &into->n_mods, f->mods[i].rule);
    if (s) s->docs += f->mods[i].docs, s->bytes += f->mods[i].bytes;
  }
  into->repair.invalid += f->repair.invalid;
  into->repair.controls += f->repair.controls;
  into->c4.lines_in += f->c4.lines_in;
  into->c4.lines_removed += f->c4.lines_removed;
  into->c4.no_terminal_punct += f->c4.no_terminal_punct;
  into->c4.too_few_words += f->c4.too_few_words;
  into->c4.too_long_word += f->c4.too_long_word;
  into->c4.javascript += f->c4.javascript;
  into->c4.policy += f->c4.policy;
  into->unwrapped += f->unwrapped;
  into->book.gutenberg_bytes += f->book.gutenberg_bytes;
  into->book.page_numbers += f->book.page_numbers;
  into->book.running_headers += f->book.running_headers;
  into->book.hyphens_joined += f->book.hyphens_joined;
  into->social.urls += f->social.urls;
  into->social.mentions += f->social.mentions;
  into->social.hashtags += f->social.hashtags;
  into->social.floods += f->social.floods;
  into->pii.email += f->pii.email;
  into->pii.ipv4 += f->pii.ipv4;
  into->pii.ipv6 += f->pii.ipv6;
  into->pii.phone += f->pii.phone;
  for (int i = 0; i < TM_STEP_COUNT; i++) into->step_ns[i] += f->step_ns[i];
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The running state of one document through the steps. */
typedef struct {
  tm_clean *c;
  const char *cur;
  size_t len;
  int which;     /* buffer to write next */
  uint64_t t0;
  uint64_t bytes_in;
} run;

static tm_textbuf *next_buf(run *r) {
  tm_textbuf *b = &r->c->buf[r->which];
  b->len = 0;
  return b;
}

/* Count one document modified by `step`. */
static void count_step(run *r, const char *step) {
  tm_rule_stat *s = rule_slot(r->c->st.mods, &r->c->st.n_mods, step);
  if (s) s->docs++, s->bytes += r->bytes_in;
}

/* Adopt the buffer just written as the current text; record a modification
 * under `step` (if not NULL) when it differs. Returns 1 when it differs. */
static int adopt(run *r, tm_textbuf *b, const char *step) {
  int changed = b->len != r->len || memcmp(b->p, r->cur, b->len) != 0;
  r->cur = b->p;
  r->len = b->len;
  r->which ^= 1;
  if (changed && step) count_step(r, step);
  return changed;
}

/* Trim white space at both ends of the current text in place (it is in our
 * buffer after the repair pass): most files end with a newline, and this
 * saves the whitespace pass on text that needs nothing else. */
static int trim_current(run *r) {
  tm_textbuf *b = &r->c->buf[r->which ^ 1];
  if (r->cur != b->p) return 0;
  size_t a = 0, z = r->len;
  while (a < z && (b->p[a] == ' ' || b->p[a] == '\n' || b->p[a] == '\t')) a++;
  while (z > a && (b->p[z - 1] == ' ' || b->p[z - 1] == '\n' || b->p[z - 1] == '\t')) z--;
  if (a == 0 && z == r->len) return 0;
  memmove(b->p, b->p + a, z - a);
  b->len = r->len = z - a;
  b->p[b->len] = 0;
  return 1;
}

static void lap(run *r, int step) {
  if (!r->c->timing) return;
  uint64_t t = now_ns();
  r->c->st.step_ns[step] += t - r->t0;
  r->t0 = t;
}

/* Is most of s[0..n) CJK script? CJK characters (3-byte sequences with a
 * lead byte E3..E9, then words.h's test) against all non-space characters. */
static int cjk_prefix(const char *text, size_t n) {
  const unsigned char *s = (const unsigned char *)text;
  size_t cjk = 0, chars = 0;
  for (size_t i = 0; i < n;) {
    unsigned b = s[i];
    if (b < 0x80) {
      chars += b > ' ';
      i++;
      continue;
    }
    uint32_t cp;
    int k = tm_utf8_next(s + i, n - i, &cp);
    chars++;
    cjk += b >= 0xe3 && b <= 0xe9 && tm_is_cjk(cp);
    i += (size_t)k;
  }
  /* a Latin word is ~5 characters: compare CJK characters with words */
  return cjk * 2 > cjk + (chars - cjk) / 5;
}

static int lang_allowed(const char *allow, const char *lang) {
  size_t l = strlen(lang);
  for (const char *p = allow; *p;) {
    while (*p == ',' || *p == ' ') p++;
    const char *e = p;
    while (*e && *e != ',' && *e != ' ') e++;
    if ((size_t)(e - p) == l && !strncmp(p, lang, l)) return 1;
    /* "zh" allows "zh-Hant" */
    if (e > p && l > (size_t)(e - p) && !strncmp(p, lang, (size_t)(e - p)) && lang[e - p] == '-')
      return 1;
    p = e;
  }
  return 0;
}

#define OOM()                                                \
  do {                                                       \
    return tm_err(err, TM_ENOMEM, "clean: out of memory"); \
  } while (0)

/* Record the first failing rule; returns 1 to stop (no trace). */
static int fail(const char **reason, const char *rule, tm_rule_trace *trace) {
  if (!*reason) *reason = rule;
  return trace == NULL;
}

int tm_clean_doc(tm_clean *c, tm_document *d, tm_clean_result *res, tm_rule_trace *trace,
                 tm_error *err) {
  const tm_clean_params *p = &c->p;
  run r = {c, d->text ? d->text : "", d->len, 0, c->timing ? now_ns() : 0, d->len};
  const char *reason = NULL;
  char meta[64];
  c->st.docs_in++;
  c->st.bytes_in += d->len;
  tm_textbuf *b;

  /* 0. an HTML page that is not UTF-8 and declares another charset */
  if (d->format == TM_DOC_HTML && !tm_utf8_valid(r.cur, r.len)) {
    char cs[40];
    const char *ct = tm_document_meta_get(d, "content_type"); /* HTTP header (WARC) */
    int have = tm_html_charset(r.cur, r.len, cs, sizeof cs) ||
               (ct && tm_html_charset(ct, strlen(ct), cs, sizeof cs));
    if (have && strcmp(cs, "utf-8") && strcmp(cs, "utf8")) {
      b = next_buf(&r);
      int crc = tm_charset_to_utf8(cs, r.cur, r.len, b);
      if (crc == -TM_ENOMEM) OOM();
      if (crc == 0) adopt(&r, b, "charset"); /* an unknown charset is left to the repair */
    }
  }

  /* 1. repair */
  b = next_buf(&r);
  if (tm_utf8_repair(r.cur, r.len, b, &c->st.repair) < 0) OOM();
  adopt(&r, b, "utf8_repair");
  lap(&r, TM_STEP_REPAIR);

  /* 2. HTML */
  int was_html = d->format == TM_DOC_HTML;
  if (was_html) {
    b = next_buf(&r);
    c->title.len = 0;
    if (tm_html_extract(c->html, r.cur, r.len, b, p->html_title ? &c->title : NULL) < 0) OOM();
    adopt(&r, b, "html");
    if (p->html_title && c->title.len && tm_document_meta_set(d, "title", c->title.p, 0) < 0) OOM();
    lap(&r, TM_STEP_HTML);
  }

  /* 3. Unicode normalisation (non-ASCII only) and whitespace */
  if (p->norm != TM_NORM_NONE && tm_text_has_non_ascii(r.cur, r.len)) {
    b = next_buf(&r);
    if (tm_text_normalize(r.cur, r.len, p->norm, b) < 0) OOM();
    adopt(&r, b, "normalize");
  }
  int ws = trim_current(&r);
  if (tm_text_whitespace_needed(r.cur, r.len)) {
    b = next_buf(&r);
    if (tm_text_whitespace(r.cur, r.len, b) < 0) OOM();
    ws |= adopt(&r, b, NULL);
  }
  if (ws) count_step(&r, "whitespace");
  lap(&r, TM_STEP_NORMALIZE);

  /* 4. hard wraps (plain text only: HTML lines are block elements), source rules */
  if (p->unwrap_enabled && !was_html) {
    b = next_buf(&r);
    if (tm_unwrap_hard_wraps(r.cur, r.len, b, &c->st.unwrapped) < 0) OOM();
    adopt(&r, b, "unwrap");
  }
  if (p->book_enabled) {
    b = next_buf(&r);
    if (tm_book_clean(r.cur, r.len, &p->book, b, &c->st.book) < 0) OOM();
    adopt(&r, b, "books");
  }
  if (p->social_enabled) {
    b = next_buf(&r);
    if (tm_social_clean(r.cur, r.len, &p->social, b, &c->st.social) < 0) OOM();
    adopt(&r, b, "social");
    if (tm_text_whitespace_needed(r.cur, r.len)) { /* what the rewrites left around them */
      b = next_buf(&r);
      if (tm_text_whitespace(r.cur, r.len, b) < 0) OOM();
      adopt(&r, b, NULL);
    }
  }
  lap(&r, TM_STEP_SOURCE);

  /* 5. C4 lines (the document verdict waits for language id) */
  const char *c4_drop = NULL;
  tm_rule_trace c4_trace = {0};
  if (p->c4_enabled) {
    b = next_buf(&r);
    /* CJK-ness before language id, by script on a 4 KiB prefix */
    int cjk = cjk_prefix(r.cur, r.len < 4096 ? r.len : 4096);
    if (tm_c4_apply(r.cur, r.len, &p->c4, cjk, b, &c->st.c4, &c4_drop, trace ? &c4_trace : NULL) < 0)
      OOM();
    adopt(&r, b, "c4_lines");
    lap(&r, TM_STEP_C4);
  }

  if (r.len == 0) { /* nothing left: C4 names it when its line filter emptied the text */
    fail(&reason, c4_drop ? c4_drop : "empty", NULL);
    goto done;
  }

  /* 6. language id */
  if (p->langid_enabled) {
    tm_langid_result lr;
    tm_langid_detect(r.cur, r.len, (size_t)p->lang_sample_bytes, &lr);
    snprintf(d->lang, sizeof d->lang, "%s", lr.code);
    d->lang_conf = lr.confidence;
    snprintf(meta, sizeof meta, "%.2f", lr.confidence);
    if (tm_document_meta_set(d, "lang", lr.code, 0) < 0 ||
        tm_document_meta_set(d, "lang_conf", meta, 1) < 0)
      OOM();
    if (p->lang_allow[0] &&
        tm_rule_check(trace, "lang.not_allowed", lang_allowed(p->lang_allow, lr.code) ? 0 : 1, '>', 0) &&
        fail(&reason, "lang.not_allowed", trace))
      goto done;
    if (tm_rule_check(trace, "lang.low_confidence", lr.confidence, '<',
                      p->lang_min_confidence > 0 ? p->lang_min_confidence : -1) &&
        fail(&reason, "lang.low_confidence", trace))
      goto done;
    lap(&r, TM_STEP_LANGID);
  }

  /* 7. quality */
  if (trace)
    for (int i = 0; i < c4_trace.n && trace->n < TM_TRACE_MAX; i++) trace->e[trace->n++] = c4_trace.e[i];
  if (c4_drop && fail(&reason, c4_drop, trace)) goto done;
  if (p->gq_enabled || p->gr_enabled || p->fw_enabled) {
    if (tm_words_split(&c->words, r.cur, r.len) < 0) OOM();
    lap(&r, TM_STEP_WORDS);
  }
  const char *rule;
  if (p->gq_enabled) {
    rule = tm_gopher_quality(r.cur, r.len, &c->words, d->lang, &p->gq, trace);
    lap(&r, TM_STEP_GOPHER_QUALITY);
    if (rule && fail(&reason, rule, trace)) goto done;
  }
  if (p->gr_enabled) {
    rule = tm_gopher_repetition(&c->qs, r.cur, r.len, &c->words, &p->gr, trace);
    lap(&r, TM_STEP_GOPHER_REPETITION);
    if (rule && !strcmp(rule, "oom")) OOM();
    if (rule && fail(&reason, rule, trace)) goto done;
  }
  if (p->fw_enabled) {
    rule = tm_fineweb_quality(&c->qs, r.cur, r.len, &c->words, &p->fw, trace);
    lap(&r, TM_STEP_FINEWEB);
    if (rule && !strcmp(rule, "oom")) OOM();
    if (rule && fail(&reason, rule, trace)) goto done;
  }
  if (reason) goto done;

  /* 8. PII */
  if (p->pii_enabled) {
    b = next_buf(&r);
    if (tm_pii_redact(r.cur, r.len, &c->pii, b, &c->st.pii) < 0) OOM();
    adopt(&r, b, "pii");
    lap(&r, TM_STEP_PII);
  }

done:;
  int changed = r.cur != d->text;
  if (changed) {
    /* move the current buffer into the document (swap, no copy) */
    tm_textbuf *cb = &c->buf[r.which ^ 1];
    if (d->len == r.len && d->text && !memcmp(d->text, r.cur, r.len)) changed = 0;
    tm_document_swap_text(d, &cb->p, &cb->cap, r.len);
    cb->len = 0;
    if (!cb->p) cb->cap = 0;
  }
  d->format = TM_DOC_TEXT;
  if (reason) {
    res->verdict = TM_CLEAN_DROP;
    res->reason = reason;
    c->st.docs_dropped++;
    c->st.bytes_dropped += r.bytes_in;
    tm_rule_stat *s = rule_slot(c->st.drops, &c->st.n_drops, reason);
    if (s) s->docs++, s->bytes += r.bytes_in;
  } else {
    res->verdict = changed ? TM_CLEAN_MODIFIED : TM_CLEAN_KEEP;
    res->reason = NULL;
    c->st.docs_kept++;
    c->st.bytes_kept += d->len;
    if (changed) c->st.docs_modified++, c->st.bytes_modified += d->len;
  }
  return 0;
}
