/* clean.h - the clean stage: one document in, a verdict out.
 *
 *   tm_clean_params p;
 *   tm_clean_params_from_config(&p, cfg, "web", &err);   // or tm_clean_params_preset
 *   tm_clean *c = tm_clean_new(&p, &err);                 // one per worker thread
 *   tm_clean_result res;
 *   tm_clean_doc(c, &doc, &res, NULL, &err);              // rewrites doc.text in place
 *   ... tm_clean_get_stats(c) ...; tm_clean_free(c);
 *
 * Steps, in order (each can be switched off in the profile):
 *   0. an HTML page that is not valid UTF-8 is converted from the charset it
 *      declares (charset.h)
 *   1. utf8 repair and control characters (normalize.h)
 *   2. HTML to text when doc.format is HTML (html_text.h); the title goes to
 *      metadata "title"
 *   3. NFKC (or NFC) on non-ASCII text, then whitespace (normalize.h)
 *   4. hard-wrapped paragraphs of plain text joined (source_rules.h);
 *      source rules: books (Gutenberg, page numbers, running headers,
 *      hyphenation, unwrapping) or social (URLs, mentions, hashtags, floods)
 *   5. C4 line filter (boilerplate lines; c4.h)
 *   6. language id (langid.h): metadata "lang"/"lang_conf", doc.lang; with an
 *      allow-list, lang.not_allowed / lang.low_confidence
 *   7. the C4 document rules, Gopher quality, Gopher repetition, FineWeb
 *      (quality.h), CJK-aware
 *   8. PII redaction (pii.h)
 * An empty text after steps 1-5 is dropped as "empty".
 *
 * The verdict is KEEP (text unchanged), MODIFIED (text rewritten) or DROP
 * with the rule name ("gopher_quality.short_doc", ...). A dropped document's
 * text is left as it was at the point of the drop.
 *
 * A tm_clean does no I/O after tm_clean_new (which reads the optional
 * bad-words file) and holds scratch buffers: use one per thread and merge
 * their stats with tm_clean_stats_merge.
 */
#ifndef TM_CLEAN_H
#define TM_CLEAN_H

#include <stdint.h>
#include <stdio.h>

#include "c4.h"
#include "config.h"
#include "error.h"
#include "normalize.h"
#include "pii.h"
#include "quality.h"
#include "readers/document.h"
#include "readers/reader.h"
#include "source_rules.h"

/* Every key of a profile section [clean.NAME]; defaults are the web
 * profile's (the published ones); the books and social presets differ as
 * corpora/profiles/{books,social}.ini show. */
extern const tm_config_key tm_clean_config_keys[];

typedef struct tm_clean_params {
  char profile[64];
  tm_source_kind source;
  tm_norm_form norm;
  int html_title;
  int html_parser;       /* tm_html_backend */
  int unwrap_enabled, book_enabled, social_enabled, c4_enabled, gq_enabled, gr_enabled, fw_enabled, pii_enabled;
  int langid_enabled;
  tm_book_params book;
  tm_social_params social;
  tm_c4_params c4;
  tm_gopher_quality_params gq;
  tm_gopher_repetition_params gr;
  tm_fineweb_params fw;
  char pii_email[32], pii_ipv4[32], pii_ipv6[32], pii_phone[32]; /* "" = keep */
  char lang_allow[256];  /* comma-separated codes, "" = any */
  double lang_min_confidence;
  uint64_t lang_sample_bytes;
  uint64_t max_words;    /* words kept for the statistics (words.h) */
  char bad_words_file[512];
  tm_reader_options reader; /* the profile's reader settings; its text_field
                               is not set: use reader_text_field */
  char reader_text_field[64];
} tm_clean_params;

/* The built-in preset "web", "books"/"book" or "social". -TM_EINVAL for
 * another name. */
int tm_clean_params_preset(tm_clean_params *p, const char *profile, tm_error *err);

/* Section [clean.PROFILE] of cfg over the preset named by its `source` key
 * (by default the profile name when it is web/books/social, else web). A
 * key set in cfg wins over the preset. A profile that is neither a preset
 * nor a section of cfg is -TM_EINVAL. cfg must have been made with
 * tm_clean_config_keys among its schemas; it may be NULL (preset only). */
int tm_clean_params_from_config(tm_clean_params *p, const tm_config *cfg, const char *profile,
                                tm_error *err);

/* Write the preset `profile` as an INI section [clean.PROFILE] with every
 * key (the files in corpora/profiles/). -TM_EINVAL for an unknown preset. */
int tm_clean_profile_write(FILE *f, const char *profile);

typedef enum { TM_CLEAN_KEEP = 0, TM_CLEAN_MODIFIED = 1, TM_CLEAN_DROP = 2 } tm_clean_verdict;

typedef struct tm_clean_result {
  tm_clean_verdict verdict;
  const char *reason; /* DROP: the rule; else NULL (static storage) */
} tm_clean_result;

enum {
  TM_STEP_REPAIR,
  TM_STEP_HTML,
  TM_STEP_NORMALIZE,
  TM_STEP_SOURCE,
  TM_STEP_C4,
  TM_STEP_LANGID,
  TM_STEP_WORDS,
  TM_STEP_GOPHER_QUALITY,
  TM_STEP_GOPHER_REPETITION,
  TM_STEP_FINEWEB,
  TM_STEP_PII,
  TM_STEP_COUNT
};
extern const char *const tm_clean_step_names[TM_STEP_COUNT];

#define TM_CLEAN_MAX_RULES 64

typedef struct tm_rule_stat {
  const char *rule;
  uint64_t docs, bytes; /* bytes of the input documents */
} tm_rule_stat;

typedef struct tm_clean_stats {
  uint64_t docs_in, bytes_in;
  uint64_t docs_kept, bytes_kept;         /* KEEP and MODIFIED; bytes out */
  uint64_t docs_dropped, bytes_dropped;   /* bytes in */
  uint64_t docs_modified, bytes_modified; /* bytes out */
  tm_rule_stat drops[TM_CLEAN_MAX_RULES]; /* per drop rule */
  int n_drops;
  tm_rule_stat mods[TM_CLEAN_MAX_RULES];  /* per step that changed a document */
  int n_mods;
  /* finer counts */
  tm_repair_counts repair;
  tm_c4_counts c4;
  tm_book_counts book;
  uint64_t unwrapped;
  tm_social_counts social;
  tm_pii_counts pii;
  uint64_t step_ns[TM_STEP_COUNT]; /* with timing on */
} tm_clean_stats;

typedef struct tm_clean tm_clean;

int tm_clean_new(tm_clean **out, const tm_clean_params *p, tm_error *err);
void tm_clean_free(tm_clean *c);

/* Measure the time of each step into stats.step_ns (off by default). */
void tm_clean_set_timing(tm_clean *c, int on);

/* Clean one document. With a trace every rule is evaluated and recorded,
 * even after the first failure (the verdict is the same). Returns 0, or
 * -TM_ENOMEM (the document is unchanged). */
int tm_clean_doc(tm_clean *c, tm_document *d, tm_clean_result *res, tm_rule_trace *trace,
                 tm_error *err);

const tm_clean_stats *tm_clean_get_stats(const tm_clean *c);
void tm_clean_stats_merge(tm_clean_stats *into, const tm_clean_stats *from);

#endif
