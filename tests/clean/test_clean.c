/* test_clean.c - the clean stage end to end on documents: presets, HTML,
 * books, social, PII, language id and its allow-list, verdicts, counters,
 * and the profile files in corpora/profiles matching the presets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clean/charset.h"
#include "clean/clean.h"
#include "clean/langid.h"
#include "clean/pii.h"
#include "clean/source_rules.h"
#include "tm_test.h"

static const char *PROSE =
    "The old lighthouse stood at the edge of the cliff, watching over the harbor below.\n"
    "Every evening the keeper climbed the narrow stairs to light the great lamp.\n"
    "Ships that passed in the night relied on its steady beam to find their way home.\n"
    "In the winter months, storms battered the coast with waves taller than houses.\n"
    "The keeper kept a journal of every vessel that sailed past the rocky point.\n"
    "His daughter learned to read the weather from the shape of the clouds.\n"
    "Fishermen in the village trusted her forecasts more than the radio reports.\n"
    "When the new automatic light was installed, the family moved to a cottage inland.\n"
    "They still visited the tower on summer afternoons to watch the boats return.\n"
    "Years later, the journal was given to the town museum for visitors to read.";

static tm_clean *make(const char *profile, const char *set_key, const char *set_val) {
  tm_clean_params p;
  tm_error err = {0};
  CHECK(tm_clean_params_preset(&p, profile, &err) == 0);
  if (set_key) {
    if (!strcmp(set_key, "lang_allow")) snprintf(p.lang_allow, sizeof p.lang_allow, "%s", set_val);
  }
  tm_clean *c;
  CHECKF(tm_clean_new(&c, &p, &err) == 0, "%s", err.msg);
  return c;
}

static tm_clean_result clean_text(tm_clean *c, tm_document *d, const char *text, tm_doc_format f) {
  tm_document_reset(d);
  tm_document_set_id(d, "doc");
  tm_document_set_text(d, text, strlen(text));
  d->format = f;
  tm_clean_result r;
  tm_error err = {0};
  CHECK(tm_clean_doc(c, d, &r, NULL, &err) == 0);
  return r;
}

static void test_web(void) {
  tm_clean *c = make("web", NULL, NULL);
  tm_document d;
  tm_document_init(&d);
  tm_clean_result r = clean_text(c, &d, PROSE, TM_DOC_TEXT);
  CHECKF(r.verdict == TM_CLEAN_KEEP, "verdict %d %s", r.verdict, r.reason ? r.reason : "");
  CHECK(!strcmp(d.text, PROSE));
  CHECKF(!strcmp(d.lang, "en") && d.lang_conf > 0.9, "lang %s %.2f", d.lang, d.lang_conf);
  /* the same prose in HTML with boilerplate around it */
  char html[8192];
  int n = snprintf(html, sizeof html,
                   "<html><head><title>Lighthouse</title><script>x()</script></head><body>"
                   "<nav>Home | News | Contact</nav><p>Cookie notice: this site uses cookies.</p>");
  for (const char *p = PROSE; *p;) {
    const char *e = strchr(p, '\n');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    n += snprintf(html + n, sizeof html - (size_t)n, "<p>%.*s</p>", (int)l, p);
    p += l + (e ? 1 : 0);
  }
  snprintf(html + n, sizeof html - (size_t)n, "<footer>(c) 2020 Example</footer></body></html>");
  r = clean_text(c, &d, html, TM_DOC_HTML);
  CHECKF(r.verdict == TM_CLEAN_MODIFIED, "html verdict %d %s", r.verdict, r.reason ? r.reason : "");
  CHECK(strstr(d.text, "Cookie") == NULL && strstr(d.text, "Home") == NULL);
  CHECK(strstr(d.text, "The old lighthouse stood") == d.text);
  CHECK(tm_document_meta_get(&d, "title") && !strcmp(tm_document_meta_get(&d, "title"), "Lighthouse"));
  CHECK(d.format == TM_DOC_TEXT);
  /* junk is dropped with the rule's name */
  r = clean_text(c, &d, "Buy now!!! Click here.", TM_DOC_TEXT);
  CHECK(r.verdict == TM_CLEAN_DROP && r.reason && !strncmp(r.reason, "c4.", 3));
  r = clean_text(c, &d, "\x01\x02 \n\n ", TM_DOC_TEXT);
  CHECK(r.verdict == TM_CLEAN_DROP && !strcmp(r.reason, "c4.no_sentences"));
  /* PII in a kept document */
  char pii[4096];
  snprintf(pii, sizeof pii, "%s\nWrite to jane.doe@example.org or call +1 (555) 123-4567 today.", PROSE);
  r = clean_text(c, &d, pii, TM_DOC_TEXT);
  CHECKF(r.verdict == TM_CLEAN_MODIFIED && strstr(d.text, "Write to <EMAIL> or call <PHONE> today."),
         "%d %s", r.verdict, d.text);
  const tm_clean_stats *st = tm_clean_get_stats(c);
  CHECK(st->docs_in == 5 && st->docs_kept == 3 && st->docs_dropped == 2 && st->docs_modified == 2);
  CHECK(st->pii.email == 1 && st->pii.phone == 1);
  int found = 0;
  for (int i = 0; i < st->n_drops; i++) found += !strcmp(st->drops[i].rule, "c4.no_sentences");
  CHECK(found == 1);
  /* a trace records every rule, and the verdict does not change */
  tm_rule_trace t = {.n = 0};
  tm_error err = {0};
  tm_document_reset(&d);
  tm_document_set_id(&d, "x");
  tm_document_set_text(&d, PROSE, strlen(PROSE));
  CHECK(tm_clean_doc(c, &d, &r, &t, &err) == 0 && r.verdict == TM_CLEAN_KEEP);
  CHECKF(t.n >= 30, "trace has %d rules", t.n);
  tm_document_free(&d);
  tm_clean_free(c);
}

static void test_lang_allow(void) {
  tm_clean *c = make("web", "lang_allow", "en");
  tm_document d;
  tm_document_init(&d);
  const char *zh =
      "今天早上我去公园散步，看到很多老人在湖边打太极拳。春天的风很温暖，树上的花都开了，空气里有淡淡的香味。"
      "我的朋友是一位医生，他每天都要在医院工作十个小时。这座城市的历史很长，街道两旁有许多古老的建筑。"
      "孩子们放学以后喜欢在操场上踢足球和跑步。晚上我们一家人一起吃饭，聊一聊这一天发生的事情。";
  tm_clean_result r = clean_text(c, &d, zh, TM_DOC_TEXT);
  CHECKF(r.verdict == TM_CLEAN_DROP && !strcmp(r.reason, "lang.not_allowed"), "%s",
         r.reason ? r.reason : "kept");
  CHECKF(!strncmp(d.lang, "zh", 2), "lang %s", d.lang);
  r = clean_text(c, &d, PROSE, TM_DOC_TEXT);
  CHECK(r.verdict == TM_CLEAN_KEEP);
  tm_clean_free(c);
  /* without an allow-list, the Chinese article passes the web filters (CJK-aware) */
  c = make("web", NULL, NULL);
  char two[4096];
  snprintf(two, sizeof two, "%s\n\n%s", zh, zh + 0);
  r = clean_text(c, &d, zh, TM_DOC_TEXT);
  CHECKF(r.verdict != TM_CLEAN_DROP, "zh dropped: %s", r.reason ? r.reason : "");
  tm_clean_free(c);
  tm_document_free(&d);
  /* language id reads a bounded sample */
  tm_langid_result lr;
  size_t n = strlen(PROSE);
  tm_langid_detect(PROSE, n, 64, &lr);
  CHECK(!strcmp(lr.code, "en"));
}

static void test_social(void) {
  tm_clean *c = make("social", NULL, NULL);
  tm_document d;
  tm_document_init(&d);
  tm_clean_result r =
      clean_text(c, &d, "Just finished my first marathon and I cannot believe how good it feels!",
                 TM_DOC_TEXT);
  CHECKF(r.verdict == TM_CLEAN_KEEP, "tweet: %s", r.reason ? r.reason : "");
  r = clean_text(c, &d, "Soooooo happy to see @maria at the beach today!!!!!! https://t.co/abc #summer",
                 TM_DOC_TEXT);
  CHECKF(r.verdict == TM_CLEAN_MODIFIED &&
             !strcmp(d.text, "Sooo happy to see @user at the beach today!!! <URL> #summer"),
         "%s / %s", d.text, r.reason ? r.reason : "");
  r = clean_text(c, &d, "\x01\x02 \n\n ", TM_DOC_TEXT); /* no C4 here: plain "empty" */
  CHECK(r.verdict == TM_CLEAN_DROP && !strcmp(r.reason, "empty"));
  r = clean_text(c, &d, "lol", TM_DOC_TEXT);
  CHECK(r.verdict == TM_CLEAN_DROP && !strcmp(r.reason, "gopher_quality.short_doc"));
  tm_clean_free(c);
  tm_document_free(&d);
  /* each mode */
  tm_social_params sp = {TM_SOCIAL_REMOVE, TM_SOCIAL_KEEP, TM_SOCIAL_NORMALIZE, 3};
  tm_textbuf out = {0};
  const char *t = "see www.example.com/x, @bob #Rust 🙂🙂🙂🙂 10000000";
  tm_social_clean(t, strlen(t), &sp, &out, NULL);
  CHECKF(!strcmp(out.p, "see , @bob Rust 🙂🙂🙂 10000000"), "'%s'", out.p);
  tm_tb_free(&out);
}

static void test_books(void) {
  const char *book =
      "The Project Gutenberg eBook of A Test\n\nThis eBook is for the use of anyone anywhere.\n\n"
      "*** START OF THE PROJECT GUTENBERG EBOOK A TEST ***\n\n"
      "A TEST\n\nCHAPTER I.\n\nIt was a bright cold day in April, and the clocks were strik-\n"
      "ing thirteen. The keeper of the old house walked slowly along\n"
      "the river, thinking of the long winter behind him.\n\n12\n\nA TEST\n\n"
      "He had lived in the valley for most of his life, and every stone of the\n"
      "road was known to him. - 13 -\n\nA TEST\n\n"
      "*** END OF THE PROJECT GUTENBERG EBOOK A TEST ***\n\nLicense text follows here.\n";
  tm_book_params bp = {1, 1, 1, 1, 1, 3};
  tm_textbuf out = {0};
  tm_book_counts bc = {0};
  tm_book_clean(book, strlen(book), &bp, &out, &bc);
  const char *want =
      "CHAPTER I.\n\nIt was a bright cold day in April, and the clocks were striking thirteen. "
      "The keeper of the old house walked slowly along the river, thinking of the long winter "
      "behind him.\n\nHe had lived in the valley for most of his life, and every stone of the "
      "road was known to him. - 13 -";
  CHECKF(!strcmp(out.p, want), "got:\n%s", out.p);
  CHECK(bc.page_numbers == 1 && bc.running_headers == 3 && bc.hyphens_joined == 1);
  CHECK(bc.gutenberg_bytes > 100);
  tm_tb_free(&out);
}

static void test_charset(void) {
  char cs[40];
  CHECK(tm_html_charset("<meta http-equiv=Content-Type content=\"text/html; charset=Windows-1252\">", 70, cs, sizeof cs) &&
        !strcmp(cs, "windows-1252"));
  CHECK(tm_html_charset("<meta charset='koi8-r'>", 23, cs, sizeof cs) && !strcmp(cs, "koi8-r"));
  CHECK(!tm_html_charset("<p>no declaration</p>", 21, cs, sizeof cs));
  CHECK(tm_utf8_valid("caf\xc3\xa9", 5) && !tm_utf8_valid("caf\xe9", 4) && !tm_utf8_valid("\xe4\xbd", 2));
  /* a windows-1252 page becomes UTF-8; a UTF-8 page declaring latin1 stays as it is */
  tm_clean_params p;
  tm_error err = {0};
  tm_clean_params_preset(&p, "web", &err);
  p.c4_enabled = p.gq_enabled = p.gr_enabled = p.fw_enabled = p.langid_enabled = 0;
  tm_clean *c;
  CHECK(tm_clean_new(&c, &p, &err) == 0);
  tm_document d;
  tm_document_init(&d);
  const char *w1252 = "<html><head><meta charset=windows-1252></head><body><p>Caf\xe9 \x93quoted\x94 \x80 5</p></body></html>";
  tm_clean_result r = clean_text(c, &d, w1252, TM_DOC_HTML);
  CHECKF(r.verdict == TM_CLEAN_MODIFIED && !strcmp(d.text, "Caf\xc3\xa9 \xe2\x80\x9cquoted\xe2\x80\x9d \xe2\x82\xac 5"),
         "verdict %d %s '%s'", r.verdict, r.reason ? r.reason : "", d.text);
  const char *utf8 = "<html><head><meta charset=iso-8859-1></head><body><p>Caf\xc3\xa9 ok</p></body></html>";
  r = clean_text(c, &d, utf8, TM_DOC_HTML);
  CHECKF(!strcmp(d.text, "Caf\xc3\xa9 ok"), "'%s'", d.text);
  /* the charset from the HTTP header when the page declares none */
  tm_document_reset(&d);
  tm_document_set_id(&d, "w");
  tm_document_meta_set(&d, "content_type", "text/html; charset=ISO-8859-1", 0);
  tm_document_set_text(&d, "<p>Caf\xe9 au lait</p>", 19);
  d.format = TM_DOC_HTML;
  CHECK(tm_clean_doc(c, &d, &r, NULL, &err) == 0 && !strcmp(d.text, "Caf\xc3\xa9 au lait"));
  const char *unknown = "<meta charset=no-such-charset><p>Caf\xe9</p>";
  r = clean_text(c, &d, unknown, TM_DOC_HTML);
  CHECKF(!strcmp(d.text, "Caf\xef\xbf\xbd"), "'%s'", d.text); /* repaired instead */
  tm_document_free(&d);
  tm_clean_free(c);
}

static void test_unwrap(void) {
  const char *mail =
      "Hi all,\n\n"
      "I have been trying to get the new release to build on my old laptop but\n"
      "the compiler keeps failing with an error about a missing header file in\n"
      "the network module. Has anyone else seen this?\n\n"
      "> quoted text that is wrapped at a fixed width and should stay as it is\n"
      "> because it is a quotation of an earlier message in the thread here\n\n"
      "One sentence per line stays.\nAnother sentence on its own line stays too.\n";
  tm_textbuf out = {0};
  uint64_t j = 0;
  tm_unwrap_hard_wraps(mail, strlen(mail), &out, &j);
  CHECKF(j == 1 && strstr(out.p, "laptop but the compiler keeps failing with an error about a missing header file in the network module.") &&
             strstr(out.p, "fixed width and should stay as it is\n> because") &&
             strstr(out.p, "stays.\nAnother"),
         "j=%llu '%s'", (unsigned long long)j, out.p);
  tm_tb_free(&out);
}

static void test_pii(void) {
  tm_pii_params p = {"<EMAIL>", "<IP>", "<IP6>", "<PHONE>"};
  struct {
    const char *in, *out;
  } cases[] = {
      {"mail a.b-c+d@mail.example.co.uk now", "mail <EMAIL> now"},
      {"not@an-email and x@y", "not@an-email and x@y"},
      {"host 192.168.0.1, and 10.0.0.255.", "host <IP>, and <IP>."},
      {"version 1.2.3.4.5 and 256.1.1.1", "version 1.2.3.4.5 and 256.1.1.1"},
      {"v6 2001:db8::8a2e:370:7334 and ::1 and fe80::1%", "v6 <IP6> and ::1 and <IP6>%"},
      {"time 12:30:45 std::vector", "time 12:30:45 std::vector"},
      {"addr fe80::1ff:fe23:4567:890a, mapped ::ffff:192.0.2.1; a::b", "addr <IP6>, mapped <IP6>; a::b"},
      {"x@example.com:8080 and (555) 123-4567.", "<EMAIL>:8080 and <PHONE>."},
      {"call 555-123-4567 or +44 20 7946 0958 or (555) 123 4567", "call <PHONE> or <PHONE> or <PHONE>"},
      {"year 2020-2021 and 1234567890123456789 and 3.14159", "year 2020-2021 and 1234567890123456789 and 3.14159"},
  };
  tm_textbuf out = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    out.len = 0;
    tm_pii_redact(cases[i].in, strlen(cases[i].in), &p, &out, NULL);
    CHECKF(!strcmp(out.p, cases[i].out), "case %zu: '%s'", i, out.p);
  }
  tm_pii_params none = {NULL, NULL, NULL, NULL};
  out.len = 0;
  tm_pii_redact("a@b.com 1.2.3.4", 15, &none, &out, NULL);
  CHECK(!strcmp(out.p, "a@b.com 1.2.3.4"));
  tm_tb_free(&out);
}

/* Random bytes and markup soup through every profile: no crash, valid UTF-8
 * out, a verdict for each (run under ASan/UBSan in CI). */
static void test_random(void) {
  static const char *frags[] = {"<p>", "</p>", "<div hidden>", "<script>", "</script>", "&amp;",
                                "&#x1F600;", "&#0;", "\xff", "\xc3", "\xe4\xbd", "\xed\xa0\x80",
                                " the ", "\n\n", "a@b.co ", "10.0.0.1 ", "+1 555 123 4567 ",
                                "\xe4\xb8\xad\xe6\x96\x87", "e\xcc\x81", "<!--", "-->", "<pre>",
                                "{", "#", "...", "- ", "http://x.y/z ", "@u ", "#t ", "\x00", "\r\n"};
  const char *profiles[] = {"web", "books", "social"};
  unsigned seed = 12345;
  char buf[4096];
  tm_document d;
  tm_document_init(&d);
  for (int pi = 0; pi < 3; pi++) {
    tm_clean *c = make(profiles[pi], NULL, NULL);
    for (int it = 0; it < 300; it++) {
      size_t n = 0;
      int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 200;
      for (int k = 0; k < parts; k++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 3 == 0) {
          buf[n++] = (char)(seed >> 8);
        } else {
          const char *f = frags[(seed >> 16) % (sizeof frags / sizeof frags[0])];
          size_t l = strlen(f);
          if (n + l < sizeof buf) memcpy(buf + n, f, l), n += l;
        }
      }
      tm_document_reset(&d);
      tm_document_set_id(&d, "r");
      tm_document_set_text(&d, buf, n);
      d.format = it % 2 ? TM_DOC_HTML : TM_DOC_TEXT;
      tm_clean_result r;
      tm_error err = {0};
      CHECK(tm_clean_doc(c, &d, &r, it % 7 == 0 ? &(tm_rule_trace){.n = 0} : NULL, &err) == 0);
      tm_textbuf chk = {0};
      tm_repair_counts rc = {0, 0};
      tm_utf8_repair(d.text, d.len, &chk, &rc);
      CHECKF(rc.invalid == 0, "profile %s iteration %d: invalid UTF-8 out", profiles[pi], it);
      tm_tb_free(&chk);
    }
    tm_clean_free(c);
  }
  tm_document_free(&d);
}

/* corpora/profiles/NAME.ini must equal the preset, key for key. */
static void test_profiles(const char *dir) {
  static const char *names[] = {"web", "books", "social"};
  for (int i = 0; i < 3; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.ini", dir, names[i]);
    const tm_config_key *schemas[] = {tm_clean_config_keys};
    tm_config *cfg = tm_config_new(schemas, 1);
    tm_error err = {0};
    CHECKF(tm_config_load(cfg, path, &err) == 0, "%s", err.msg);
    tm_clean_params a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK(tm_clean_params_from_config(&a, cfg, names[i], &err) == 0);
    CHECK(tm_clean_params_preset(&b, names[i], &err) == 0);
    CHECKF(!memcmp(&a, &b, sizeof a), "%s differs from the preset", path);
    /* and the file is exactly what --print-profile writes */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    tm_clean_profile_write(m, names[i]);
    fclose(m);
    FILE *f = fopen(path, "rb");
    char *file = calloc(1, len + 2);
    size_t got = f ? fread(file, 1, len + 1, f) : 0;
    if (f) fclose(f);
    CHECKF(got == len && !memcmp(file, text, len), "%s is stale: regenerate with tokenmill clean --print-profile %s", path, names[i]);
    free(file);
    free(text);
    tm_config_free(cfg);
  }
  /* a custom profile over a preset, and an override */
  const tm_config_key *schemas[] = {tm_clean_config_keys};
  tm_config *cfg = tm_config_new(schemas, 1);
  tm_error err = {0};
  CHECK(tm_config_load_string(cfg, "t", "[clean.tweets]\nsource = social\ngopher_min_doc_words = 7\n", &err) == 0);
  tm_clean_params p;
  CHECK(tm_clean_params_from_config(&p, cfg, "tweets", &err) == 0);
  CHECK(p.source == TM_SOURCE_SOCIAL && p.social_enabled && p.gq.min_doc_words == 7);
  CHECK(tm_config_load_string(cfg, "t", "[clean.tweets]\nsocial_urls = sometimes\n", &err) == 0);
  CHECK(tm_clean_params_from_config(&p, cfg, "tweets", &err) == -TM_EINVAL);
  CHECK(tm_clean_params_preset(&p, "nope", &err) == -TM_EINVAL);
  tm_config_free(cfg);
}

int main(int argc, char **argv) {
  test_web();
  test_lang_allow();
  test_social();
  test_books();
  test_pii();
  test_unwrap();
  test_charset();
  test_random();
  if (argc > 1) test_profiles(argv[1]);
  return tm_test_finish("test_clean");
}
