/* clean_config.c - the profile keys of the clean stage, the built-in
 * presets (web, books, social) and their loading; see clean.h.
 *
 * One table (fields[]) maps every key to its place in tm_clean_params, so a
 * value is parsed the same way whether it comes from the schema default, a
 * preset or a file. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clean.h"
#include "html_text.h"

#define S "clean.*"
const tm_config_key tm_clean_config_keys[] = {
    {S, "source", TM_CFG_STR, "", "preset and source kind: web, book or social (default: the profile name, else web)"},
    {S, "normalization", TM_CFG_STR, "nfkc", "Unicode normal form: nfkc, nfc or none"},
    {S, "html_title", TM_CFG_BOOL, "true", "store an HTML document's <title> as metadata \"title\""},
    {S, "html_parser", TM_CFG_STR, "auto", "HTML parser: auto (myhtml when built in, else gumbo), gumbo, myhtml"},
    {S, "reader_format", TM_CFG_STR, "auto", "input format: auto, jsonl, text, html, email, warc"},
    {S, "reader_text_field", TM_CFG_STR, "text", "JSONL: the field holding the document"},
    {S, "reader_field_kind", TM_CFG_STR, "text", "JSONL: what the field holds: text, html or email"},
    {S, "reader_split_blank_lines", TM_CFG_BOOL, "false", "text files: one document per blank-line separated block"},
    {S, "max_record_bytes", TM_CFG_SIZE, "64M", "a line/document/record larger than this is rejected and counted"},
    {S, "max_decompressed_bytes", TM_CFG_SIZE, "256G", "refuse a compressed input that expands beyond this"},
    {S, "max_decompression_ratio", TM_CFG_FLOAT, "1000", "refuse a compressed input that expands more than this (after 64 MiB)"},
    {S, "unwrap_hard_wraps", TM_CFG_BOOL, "true", "join the lines of plain-text paragraphs wrapped at a fixed width (e-mail) before C4"},
    {S, "books", TM_CFG_BOOL, "false", "book rules (below)"},
    {S, "books_gutenberg", TM_CFG_BOOL, "true", "drop the Project Gutenberg licence header and footer"},
    {S, "books_page_numbers", TM_CFG_BOOL, "true", "drop lines that are only a page number"},
    {S, "books_running_headers", TM_CFG_BOOL, "true", "drop short lines repeated books_running_header_min+ times"},
    {S, "books_running_header_min", TM_CFG_INT, "3", "repeats that make a short line a running header"},
    {S, "books_dehyphenate", TM_CFG_BOOL, "true", "join words hyphenated at a line end"},
    {S, "books_unwrap", TM_CFG_BOOL, "true", "join the hard-wrapped lines of a paragraph"},
    {S, "social", TM_CFG_BOOL, "false", "social rules (below)"},
    {S, "social_urls", TM_CFG_STR, "keep", "URLs: keep, normalize (<URL>) or remove"},
    {S, "social_mentions", TM_CFG_STR, "keep", "@mentions: keep, normalize (@user) or remove"},
    {S, "social_hashtags", TM_CFG_STR, "keep", "#hashtags: keep, normalize (drop the #) or remove"},
    {S, "social_flood_max", TM_CFG_INT, "3", "cut a character repeated more than this (0: off)"},
    {S, "c4", TM_CFG_BOOL, "true", "C4 line and document filter"},
    {S, "c4_filter_no_terminal_punct", TM_CFG_BOOL, "true", "C4: drop lines without terminal punctuation"},
    {S, "c4_min_words_per_line", TM_CFG_INT, "3", "C4: drop lines with fewer words (-1: off)"},
    {S, "c4_max_word_length", TM_CFG_INT, "1000", "C4: drop lines with a longer word (-1: off)"},
    {S, "c4_filter_javascript", TM_CFG_BOOL, "true", "C4: drop lines mentioning javascript"},
    {S, "c4_filter_policy", TM_CFG_BOOL, "true", "C4: drop cookie/terms/privacy notice lines"},
    {S, "c4_filter_lorem_ipsum", TM_CFG_BOOL, "true", "C4: drop documents with lorem ipsum"},
    {S, "c4_filter_curly_bracket", TM_CFG_BOOL, "true", "C4: drop documents with a curly bracket"},
    {S, "c4_remove_citations", TM_CFG_BOOL, "true", "C4: remove [1], [edit], [citation needed]"},
    {S, "c4_min_num_sentences", TM_CFG_INT, "5", "C4: drop documents with fewer sentences (-1: off)"},
    {S, "c4_bad_words_file", TM_CFG_STR, "", "C4: file of words (one a line) that drop a document"},
    {S, "gopher_quality", TM_CFG_BOOL, "true", "Gopher quality filter"},
    {S, "gopher_min_doc_words", TM_CFG_FLOAT, "50", "Gopher: minimum non-symbol words"},
    {S, "gopher_max_doc_words", TM_CFG_FLOAT, "100000", "Gopher: maximum non-symbol words"},
    {S, "gopher_min_avg_word_length", TM_CFG_FLOAT, "3", "Gopher: minimum mean word length"},
    {S, "gopher_max_avg_word_length", TM_CFG_FLOAT, "10", "Gopher: maximum mean word length"},
    {S, "gopher_max_symbol_word_ratio", TM_CFG_FLOAT, "0.1", "Gopher: maximum '#' and ellipses per word"},
    {S, "gopher_max_bullet_lines_ratio", TM_CFG_FLOAT, "0.9", "Gopher: maximum fraction of bullet lines"},
    {S, "gopher_max_ellipsis_lines_ratio", TM_CFG_FLOAT, "0.3", "Gopher: maximum fraction of lines ending in an ellipsis"},
    {S, "gopher_min_alpha_words_ratio", TM_CFG_FLOAT, "0.8", "Gopher: minimum fraction of words with a letter"},
    {S, "gopher_min_stop_words", TM_CFG_FLOAT, "2", "Gopher: minimum stop words (per-language lists)"},
    {S, "gopher_repetition", TM_CFG_BOOL, "true", "Gopher repetition filter"},
    {S, "gopher_dup_line_frac", TM_CFG_FLOAT, "0.3", "Gopher: maximum duplicated line fraction"},
    {S, "gopher_dup_para_frac", TM_CFG_FLOAT, "0.3", "Gopher: maximum duplicated paragraph fraction"},
    {S, "gopher_dup_line_char_frac", TM_CFG_FLOAT, "0.2", "Gopher: maximum bytes in duplicated lines"},
    {S, "gopher_dup_para_char_frac", TM_CFG_FLOAT, "0.2", "Gopher: maximum bytes in duplicated paragraphs"},
    {S, "gopher_top_2_gram", TM_CFG_FLOAT, "0.2", "Gopher: maximum bytes of the top 2-gram"},
    {S, "gopher_top_3_gram", TM_CFG_FLOAT, "0.18", "Gopher: maximum bytes of the top 3-gram"},
    {S, "gopher_top_4_gram", TM_CFG_FLOAT, "0.16", "Gopher: maximum bytes of the top 4-gram"},
    {S, "gopher_dup_5_grams", TM_CFG_FLOAT, "0.15", "Gopher: maximum bytes in duplicated 5-grams"},
    {S, "gopher_dup_6_grams", TM_CFG_FLOAT, "0.14", "Gopher: maximum bytes in duplicated 6-grams"},
    {S, "gopher_dup_7_grams", TM_CFG_FLOAT, "0.13", "Gopher: maximum bytes in duplicated 7-grams"},
    {S, "gopher_dup_8_grams", TM_CFG_FLOAT, "0.12", "Gopher: maximum bytes in duplicated 8-grams"},
    {S, "gopher_dup_9_grams", TM_CFG_FLOAT, "0.11", "Gopher: maximum bytes in duplicated 9-grams"},
    {S, "gopher_dup_10_grams", TM_CFG_FLOAT, "0.10", "Gopher: maximum bytes in duplicated 10-grams"},
    {S, "fineweb", TM_CFG_BOOL, "true", "FineWeb quality filter"},
    {S, "fineweb_line_punct_thr", TM_CFG_FLOAT, "0.12", "FineWeb: minimum fraction of lines ending in punctuation"},
    {S, "fineweb_line_punct_exclude_zero", TM_CFG_BOOL, "false", "FineWeb: skip that rule when no line ends in punctuation"},
    {S, "fineweb_short_line_thr", TM_CFG_FLOAT, "0.67", "FineWeb: maximum fraction of short lines"},
    {S, "fineweb_short_line_length", TM_CFG_INT, "30", "FineWeb: a short line has at most this many characters"},
    {S, "fineweb_char_duplicates_ratio", TM_CFG_FLOAT, "0.01", "FineWeb: maximum bytes in duplicated lines"},
    {S, "fineweb_new_line_ratio", TM_CFG_FLOAT, "0.3", "FineWeb: maximum newlines per word"},
    {S, "langid", TM_CFG_BOOL, "true", "language id (CLD2)"},
    {S, "lang_allow", TM_CFG_STR, "", "comma-separated language codes to keep (empty: any)"},
    {S, "lang_min_confidence", TM_CFG_FLOAT, "0.5", "drop documents whose language confidence is lower"},
    {S, "lang_sample_bytes", TM_CFG_SIZE, "1k", "language id reads at most this much (head + middle)"},
    {S, "max_words", TM_CFG_INT, "1000000", "words kept for the repetition statistics (a bounded prefix)"},
    {S, "pii", TM_CFG_BOOL, "true", "PII redaction"},
    {S, "pii_email", TM_CFG_STR, "<EMAIL>", "placeholder for e-mail addresses (empty: keep)"},
    {S, "pii_ipv4", TM_CFG_STR, "<IP_ADDRESS>", "placeholder for IPv4 addresses (empty: keep)"},
    {S, "pii_ipv6", TM_CFG_STR, "<IP_ADDRESS>", "placeholder for IPv6 addresses (empty: keep)"},
    {S, "pii_phone", TM_CFG_STR, "<PHONE>", "placeholder for phone numbers (empty: keep)"},
    {NULL, NULL, TM_CFG_STR, NULL, NULL},
};
#undef S

typedef struct {
  const char *key, *value;
} preset_kv;

/* What the books and social presets change from the web defaults. */
static const preset_kv books_preset[] = {
    {"source", "book"},
    {"books", "true"},
    {"unwrap_hard_wraps", "false"}, /* books_unwrap joins every paragraph */
    {"c4", "false"},
    {"fineweb", "false"},
    {"gopher_max_doc_words", "100000000"},
    {"pii", "false"},
    {NULL, NULL},
};
static const preset_kv social_preset[] = {
    {"source", "social"},
    {"social", "true"},
    {"social_urls", "normalize"},
    {"social_mentions", "normalize"},
    {"c4", "false"},
    {"fineweb", "false"},
    {"gopher_min_doc_words", "5"},
    {"unwrap_hard_wraps", "false"},
    {"gopher_min_stop_words", "0"},          /* "Or is it?" has none of the 8 */
    {"gopher_min_avg_word_length", "2"},     /* "You will be run over by a bus." */
    {"gopher_max_symbol_word_ratio", "0.3"}, /* hashtags, "will be... interesting" */
    {"gopher_min_alpha_words_ratio", "0.6"}, /* "strikes 9 out of 10!" in 8 words */
    {"gopher_max_ellipsis_lines_ratio", "-1"}, /* a one-line post ending in "..." */
    {"gopher_top_2_gram", "-1"},             /* "of the" twice in 12 words is normal */
    {"gopher_top_3_gram", "-1"},
    {"gopher_top_4_gram", "-1"},
    {"lang_min_confidence", "0"},
    {NULL, NULL},
};
static const preset_kv web_preset[] = {{"source", "web"}, {NULL, NULL}};

/* ---- key -> field ---------------------------------------------------------- */

typedef enum { F_DBL, F_INT, F_BOOL, F_U64, F_STR, F_NORM, F_SOCIAL, F_FORMAT, F_FIELDKIND, F_SOURCE, F_HTML } kind;

typedef struct {
  const char *key;
  kind k;
  size_t off, size;
} field;

#define P(m) offsetof(tm_clean_params, m), sizeof(((tm_clean_params *)0)->m)
static const field fields[] = {
    {"source", F_SOURCE, P(source)},
    {"normalization", F_NORM, P(norm)},
    {"html_title", F_BOOL, P(html_title)},
    {"html_parser", F_HTML, P(html_parser)},
    {"reader_format", F_FORMAT, P(reader.format)},
    {"reader_text_field", F_STR, P(reader_text_field)},
    {"reader_field_kind", F_FIELDKIND, P(reader.field_kind)},
    {"reader_split_blank_lines", F_BOOL, P(reader.text_split_blank_lines)},
    {"max_record_bytes", F_U64, P(reader.max_record_bytes)},
    {"max_decompressed_bytes", F_U64, P(reader.max_decompressed_bytes)},
    {"max_decompression_ratio", F_DBL, P(reader.max_ratio)},
    {"unwrap_hard_wraps", F_BOOL, P(unwrap_enabled)},
    {"books", F_BOOL, P(book_enabled)},
    {"books_gutenberg", F_BOOL, P(book.gutenberg)},
    {"books_page_numbers", F_BOOL, P(book.page_numbers)},
    {"books_running_headers", F_BOOL, P(book.running_headers)},
    {"books_running_header_min", F_INT, P(book.running_header_min)},
    {"books_dehyphenate", F_BOOL, P(book.dehyphenate)},
    {"books_unwrap", F_BOOL, P(book.unwrap)},
    {"social", F_BOOL, P(social_enabled)},
    {"social_urls", F_SOCIAL, P(social.urls)},
    {"social_mentions", F_SOCIAL, P(social.mentions)},
    {"social_hashtags", F_SOCIAL, P(social.hashtags)},
    {"social_flood_max", F_INT, P(social.flood_max)},
    {"c4", F_BOOL, P(c4_enabled)},
    {"c4_filter_no_terminal_punct", F_BOOL, P(c4.filter_no_terminal_punct)},
    {"c4_min_words_per_line", F_INT, P(c4.min_words_per_line)},
    {"c4_max_word_length", F_INT, P(c4.max_word_length)},
    {"c4_filter_javascript", F_BOOL, P(c4.filter_javascript)},
    {"c4_filter_policy", F_BOOL, P(c4.filter_policy)},
    {"c4_filter_lorem_ipsum", F_BOOL, P(c4.filter_lorem_ipsum)},
    {"c4_filter_curly_bracket", F_BOOL, P(c4.filter_curly_bracket)},
    {"c4_remove_citations", F_BOOL, P(c4.remove_citations)},
    {"c4_min_num_sentences", F_INT, P(c4.min_num_sentences)},
    {"c4_bad_words_file", F_STR, P(bad_words_file)},
    {"gopher_quality", F_BOOL, P(gq_enabled)},
    {"gopher_min_doc_words", F_DBL, P(gq.min_doc_words)},
    {"gopher_max_doc_words", F_DBL, P(gq.max_doc_words)},
    {"gopher_min_avg_word_length", F_DBL, P(gq.min_avg_word_length)},
    {"gopher_max_avg_word_length", F_DBL, P(gq.max_avg_word_length)},
    {"gopher_max_symbol_word_ratio", F_DBL, P(gq.max_symbol_word_ratio)},
    {"gopher_max_bullet_lines_ratio", F_DBL, P(gq.max_bullet_lines_ratio)},
    {"gopher_max_ellipsis_lines_ratio", F_DBL, P(gq.max_ellipsis_lines_ratio)},
    {"gopher_min_alpha_words_ratio", F_DBL, P(gq.min_alpha_words_ratio)},
    {"gopher_min_stop_words", F_DBL, P(gq.min_stop_words)},
    {"gopher_repetition", F_BOOL, P(gr_enabled)},
    {"gopher_dup_line_frac", F_DBL, P(gr.dup_line_frac)},
    {"gopher_dup_para_frac", F_DBL, P(gr.dup_para_frac)},
    {"gopher_dup_line_char_frac", F_DBL, P(gr.dup_line_char_frac)},
    {"gopher_dup_para_char_frac", F_DBL, P(gr.dup_para_char_frac)},
    {"gopher_top_2_gram", F_DBL, P(gr.top_n_gram[0])},
    {"gopher_top_3_gram", F_DBL, P(gr.top_n_gram[1])},
    {"gopher_top_4_gram", F_DBL, P(gr.top_n_gram[2])},
    {"gopher_dup_5_grams", F_DBL, P(gr.dup_n_gram[0])},
    {"gopher_dup_6_grams", F_DBL, P(gr.dup_n_gram[1])},
    {"gopher_dup_7_grams", F_DBL, P(gr.dup_n_gram[2])},
    {"gopher_dup_8_grams", F_DBL, P(gr.dup_n_gram[3])},
    {"gopher_dup_9_grams", F_DBL, P(gr.dup_n_gram[4])},
    {"gopher_dup_10_grams", F_DBL, P(gr.dup_n_gram[5])},
    {"fineweb", F_BOOL, P(fw_enabled)},
    {"fineweb_line_punct_thr", F_DBL, P(fw.line_punct_thr)},
    {"fineweb_line_punct_exclude_zero", F_BOOL, P(fw.line_punct_exclude_zero)},
    {"fineweb_short_line_thr", F_DBL, P(fw.short_line_thr)},
    {"fineweb_short_line_length", F_INT, P(fw.short_line_length)},
    {"fineweb_char_duplicates_ratio", F_DBL, P(fw.char_duplicates_ratio)},
    {"fineweb_new_line_ratio", F_DBL, P(fw.new_line_ratio)},
    {"langid", F_BOOL, P(langid_enabled)},
    {"lang_allow", F_STR, P(lang_allow)},
    {"lang_min_confidence", F_DBL, P(lang_min_confidence)},
    {"lang_sample_bytes", F_U64, P(lang_sample_bytes)},
    {"max_words", F_U64, P(max_words)},
    {"pii", F_BOOL, P(pii_enabled)},
    {"pii_email", F_STR, P(pii_email)},
    {"pii_ipv4", F_STR, P(pii_ipv4)},
    {"pii_ipv6", F_STR, P(pii_ipv6)},
    {"pii_phone", F_STR, P(pii_phone)},
};
#undef P
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int set_field(tm_clean_params *p, const field *f, const char *v, const char *where,
                     tm_error *err) {
  char *dst = (char *)p + f->off;
  int64_t i;
  uint64_t u;
  double d;
  int b, e;
  switch (f->k) {
  case F_DBL:
    if (tm_parse_float(v, &d) < 0) goto bad;
    *(double *)dst = d;
    return 0;
  case F_INT:
    if (tm_parse_int(v, &i) < 0) goto bad;
    *(int *)dst = (int)i;
    return 0;
  case F_BOOL:
    if (tm_parse_bool(v, &b) < 0) goto bad;
    *(int *)dst = b;
    return 0;
  case F_U64:
    if (tm_parse_size(v, &u) < 0) goto bad;
    *(uint64_t *)dst = u;
    return 0;
  case F_STR:
    if (strlen(v) >= f->size) goto bad;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
  case F_NORM: e = tm_norm_form_parse(v); break;
  case F_SOCIAL: e = tm_social_mode_parse(v); break;
  case F_FORMAT: e = tm_reader_format_parse(v); break;
  case F_FIELDKIND: e = tm_field_kind_parse(v); break;
  case F_HTML: e = tm_html_backend_parse(v); break;
  case F_SOURCE:
    if (!*v) return 0; /* "": keep the preset's */
    e = tm_source_parse(v);
    break;
  default: goto bad;
  }
  if (e < 0) goto bad;
  memcpy(dst, &e, sizeof e); /* all enums here are int-sized */
  return 0;
bad:
  return tm_err(err, TM_EINVAL, "%s: bad value '%s' for %s", where, v, f->key);
}

static const field *find_field(const char *key) {
  for (size_t i = 0; i < N_FIELDS; i++)
    if (!strcmp(fields[i].key, key)) return &fields[i];
  return NULL;
}

static const preset_kv *preset_for(const char *name) {
  if (!strcasecmp(name, "web")) return web_preset;
  if (!strcasecmp(name, "books") || !strcasecmp(name, "book")) return books_preset;
  if (!strcasecmp(name, "social")) return social_preset;
  return NULL;
}

static int apply_preset(tm_clean_params *p, const preset_kv *pre, tm_error *err) {
  memset(p, 0, sizeof *p);
  tm_reader_options_default(&p->reader);
  for (const tm_config_key *k = tm_clean_config_keys; k->key; k++) {
    const field *f = find_field(k->key);
    if (!f) return tm_err(err, TM_EINVAL, "clean: key %s has no field", k->key);
    int rc = set_field(p, f, k->def, "default", err);
    if (rc < 0) return rc;
  }
  for (; pre->key; pre++) {
    int rc = set_field(p, find_field(pre->key), pre->value, "preset", err);
    if (rc < 0) return rc;
  }
  return 0;
}

int tm_clean_params_preset(tm_clean_params *p, const char *profile, tm_error *err) {
  const preset_kv *pre = preset_for(profile);
  if (!pre) return tm_err(err, TM_EINVAL, "unknown clean profile '%s' (web, books, social)", profile);
  int rc = apply_preset(p, pre, err);
  if (rc == 0) snprintf(p->profile, sizeof p->profile, "%s", profile);
  return rc;
}

int tm_clean_params_from_config(tm_clean_params *p, const tm_config *cfg, const char *profile,
                                tm_error *err) {
  char sect[96];
  snprintf(sect, sizeof sect, "clean.%s", profile);
  const preset_kv *pre = preset_for(profile);
  if (cfg && tm_config_is_set(cfg, sect, "source")) {
    const char *src = tm_config_str(cfg, sect, "source");
    pre = !strcasecmp(src, "book") ? books_preset : preset_for(src);
    if (!pre) return tm_err(err, TM_EINVAL, "[%s] source: unknown '%s' (web, book, social)", sect, src);
  }
  if (!pre) {
    /* a custom profile must exist as a section of the configuration */
    int any = 0;
    for (const tm_config_key *k = tm_clean_config_keys; cfg && k->key && !any; k++)
      any = tm_config_is_set(cfg, sect, k->key);
    if (!any)
      return tm_err(err, TM_EINVAL,
                    "unknown profile '%s': not web, books or social, and no [%s] section in the configuration",
                    profile, sect);
    pre = web_preset;
  }
  int rc = apply_preset(p, pre, err);
  if (rc < 0) return rc;
  snprintf(p->profile, sizeof p->profile, "%s", profile);
  if (!cfg) return 0;
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (!tm_config_is_set(cfg, sect, fields[i].key)) continue;
    rc = set_field(p, &fields[i], tm_config_str(cfg, sect, fields[i].key), sect, err);
    if (rc < 0) return rc;
  }
  return 0;
}

int tm_clean_profile_write(FILE *f, const char *profile) {
  const preset_kv *pre = preset_for(profile);
  if (!pre) return -TM_EINVAL;
  fprintf(f, "; tokenmill clean profile \"%s\": every key of [clean.%s] with its value.\n"
             "; Generated by `tokenmill clean --print-profile %s`; a test keeps it in sync.\n"
             "; Use: tokenmill clean -c THIS_FILE --profile %s ...\n\n[clean.%s]\n",
          profile, profile, profile, profile, profile);
  for (const tm_config_key *k = tm_clean_config_keys; k->key; k++) {
    const char *v = k->def;
    for (const preset_kv *q = pre; q->key; q++)
      if (!strcmp(q->key, k->key)) v = q->value;
    fprintf(f, "; %s\n%s = %s\n", k->help, k->key, v);
  }
  return 0;
}
