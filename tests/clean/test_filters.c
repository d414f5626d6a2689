/* test_filters.c - every quality filter on hand-written documents that must
 * be kept and must be dropped, at and around each threshold; CJK documents
 * pass or fail for the right reasons. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clean/c4.h"
#include "clean/quality.h"
#include "clean/words.h"
#include "tm_test.h"

static tm_words W;
static tm_quality_scratch QS;
static tm_rule_trace T;
static char doc[1 << 20];
static size_t dn;

static void reset(void) {
  dn = 0;
  doc[0] = 0;
}

static void add(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dn += (size_t)vsnprintf(doc + dn, sizeof doc - dn, fmt, ap);
  va_end(ap);
}

/* A distinct lowercase word for each i: "ba", "be", ... 3-5 letters. */
static const char *uword(int i) {
  static char buf[8][16];
  static int k;
  char *b = buf[k++ & 7];
  static const char cons[] = "bcdfghjklmnprstvz", vow[] = "aeiou";
  int n = 0;
  b[n++] = cons[i % 17];
  b[n++] = vow[(i / 17) % 5];
  b[n++] = cons[(i / 85) % 17];
  if (i >= 1445) b[n++] = vow[(i / 1445) % 5];
  b[n] = 0;
  return b;
}

/* The value and failure of one rule in the last trace (-1: not evaluated). */
static int failed(const char *rule, double *value) {
  for (int i = 0; i < T.n; i++)
    if (!strcmp(T.e[i].rule, rule)) {
      if (value) *value = T.e[i].value;
      return T.e[i].failed;
    }
  return -1;
}

static void run_gq(const char *lang) {
  tm_gopher_quality_params p;
  tm_gopher_quality_defaults(&p);
  tm_words_split(&W, doc, dn);
  T.n = 0;
  tm_gopher_quality(doc, dn, &W, lang, &p, &T);
}

static void run_gr(void) {
  tm_gopher_repetition_params p;
  tm_gopher_repetition_defaults(&p);
  tm_words_split(&W, doc, dn);
  T.n = 0;
  tm_gopher_repetition(&QS, doc, dn, &W, &p, &T);
}

static void run_fw(void) {
  tm_fineweb_params p;
  tm_fineweb_defaults(&p);
  tm_words_split(&W, doc, dn);
  T.n = 0;
  tm_fineweb_quality(&QS, doc, dn, &W, &p, &T);
}

/* n words: unique words with "the" and "of" among them */
static void words_doc(int n, int start) {
  reset();
  for (int i = 0; i < n; i++) {
    const char *w = i == 0 ? "the" : i == 1 ? "of" : uword(start + i);
    add("%s%s", i ? " " : "", w);
  }
  add(".");
}

static void test_gopher_quality(void) {
  double v = 0;
  words_doc(50, 0);
  run_gq("en");
  CHECKF(failed("gopher_quality.short_doc", &v) == 0 && v == 50, "50 words: v=%g", v);
  words_doc(49, 0);
  run_gq("en");
  CHECK(failed("gopher_quality.short_doc", NULL) == 1);

  /* mean word length: 3 passes, 2 fails; 10 passes, 11 fails */
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i % 2 ? "of" : "abcd"); /* mean 3.0 */
  run_gq("en");
  CHECKF(failed("gopher_quality.below_avg_threshold", &v) == 0, "mean %g", v);
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i % 2 ? "of" : "abc"); /* mean 2.5 */
  run_gq("en");
  CHECK(failed("gopher_quality.below_avg_threshold", NULL) == 1);
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i % 2 ? "the" : "abcdefghijklmnopq"); /* (3+17)/2 = 10 */
  run_gq("en");
  CHECK(failed("gopher_quality.above_avg_threshold", NULL) == 0);
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i % 2 ? "the" : "abcdefghijklmnopqr"); /* 10.5 */
  run_gq("en");
  CHECK(failed("gopher_quality.above_avg_threshold", NULL) == 1);

  /* '#' per token: 10 of 100 passes, 11 fails */
  for (int k = 10; k <= 11; k++) {
    reset();
    for (int i = 0; i < 100; i++) add("%s%s ", i < k ? "#" : "", i < 2 ? (i ? "of" : "the") : uword(i));
    run_gq("en");
    CHECKF(failed("gopher_quality.too_many_hashes", &v) == (k == 11), "k=%d v=%g", k, v);
  }
  /* ellipses per token */
  for (int k = 10; k <= 11; k++) {
    reset();
    for (int i = 0; i < 100; i++) add("%s%s ", i < 2 ? (i ? "of" : "the") : uword(i), i >= 50 && i < 50 + k ? "..." : "");
    add("end.");
    run_gq("en");
    CHECKF(failed("gopher_quality.too_many_ellipsis", &v) == (k == 11), "k=%d v=%g", k, v);
  }
  /* bullet lines: 9 of 10 passes, 10 of 10 fails */
  for (int k = 9; k <= 10; k++) {
    reset();
    for (int l = 0; l < 10; l++) {
      add("%sthe of", l < k ? "- " : "");
      for (int i = 0; i < 6; i++) add(" %s", uword(l * 10 + i));
      add(".\n");
    }
    run_gq("en");
    CHECKF(failed("gopher_quality.too_many_bullets", &v) == (k == 10), "k=%d v=%g", k, v);
  }
  /* lines ending in an ellipsis: 3 of 10 passes, 4 fails */
  for (int k = 3; k <= 4; k++) {
    reset();
    for (int l = 0; l < 10; l++) {
      add("the of");
      for (int i = 0; i < 6; i++) add(" %s", uword(l * 10 + i));
      add("%s\n", l < k ? "..." : ".");
    }
    run_gq("en");
    CHECKF(failed("gopher_quality.too_many_end_ellipsis", &v) == (k == 4), "k=%d v=%g", k, v);
  }
  /* words with a letter: 80 of 100 passes, 79 fails */
  for (int k = 20; k <= 21; k++) {
    reset();
    for (int i = 0; i < 100; i++) {
      if (i < k) add("%d ", 1000 + i);
      else add("%s ", i == k ? "the" : i == k + 1 ? "of" : uword(i));
    }
    run_gq("en");
    CHECKF(failed("gopher_quality.below_alpha_threshold", &v) == (k == 21), "k=%d v=%g", k, v);
  }
  /* stop words: 2 pass, 1 fails; a language without a list skips the rule */
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i == 7 ? "the" : i == 9 ? "with" : uword(i));
  run_gq("en");
  CHECK(failed("gopher_quality.enough_stop_words", NULL) == 0);
  reset();
  for (int i = 0; i < 60; i++) add("%s ", i == 7 ? "The" : uword(i));
  run_gq("en");
  CHECK(failed("gopher_quality.enough_stop_words", NULL) == 1);
  run_gq("fi");
  CHECK(failed("gopher_quality.enough_stop_words", NULL) == -1);
  /* long documents */
  reset();
  words_doc(100001, 0);
  run_gq("en");
  CHECK(failed("gopher_quality.long_doc", NULL) == 1);
}

static void test_gopher_repetition(void) {
  double v = 0;
  /* duplicate lines: 3 repeats of 10 lines passes, 4 fails (short repeated
   * lines, so the byte fraction stays low) */
  for (int k = 3; k <= 4; k++) {
    reset();
    for (int l = 0; l < 10 - k; l++) {
      for (int i = 0; i < 12; i++) add("%s ", uword(l * 12 + i));
      add("end.\n");
    }
    add("ok fine.\n");
    for (int l = 0; l < k; l++) add("ok fine.\n");
    dn--; /* no final newline */
    /* k repeats + the first = k+1 short lines; unique lines 10-k; total 11 */
    run_gr();
    double want = (double)k / (11);
    CHECKF(failed("gopher_repetition.dup_line_frac", &v) == (want > 0.3) && v == want, "k=%d v=%g", k, v);
  }
  /* duplicate line bytes just under and over 0.20 */
  for (int rep = 0; rep < 2; rep++) {
    reset();
    for (int i = 0; i < 300; i++) add("%s%s", uword(i), i % 15 == 14 ? ".\n" : " ");
    size_t uniq = dn;
    /* a line of L bytes twice: L / (uniq + 2L + 2) vs 0.2 */
    size_t L = (size_t)(0.2 * (double)(uniq + 2) / 0.6) + (rep ? 8 : -8);
    char line[4096];
    memset(line, 'x', L);
    for (size_t i = 9; i < L; i += 10) line[i] = ' ';
    line[L] = 0;
    add("%s\n%s", line, line);
    run_gr();
    CHECKF(failed("gopher_repetition.dup_line_char_frac", &v) == rep, "rep=%d v=%g", rep, v);
  }
  /* duplicated paragraphs: 10 distinct + copies of one; 4/15 passes, 5/16 fails */
  for (int k = 5; k <= 6; k++) {
    reset();
    for (int p = 0; p < 10; p++) {
      for (int i = 0; i < 20; i++) add("%s ", uword(p * 20 + i));
      add("end.\n\n");
    }
    for (int p = 0; p < k; p++) add("A repeated short paragraph.\n\n");
    run_gr();
    CHECKF(failed("gopher_repetition.dup_para_frac", &v) == (k == 6), "k=%d v=%g", k, v);
  }
  /* top 2-gram: "ab cd" x k, just under and over 20% of the bytes */
  for (int over = 0; over < 2; over++) {
    reset();
    int k = over ? 36 : 28;
    for (int i = 0; i < 150; i++) {
      add("%s ", uword(i + 100));
      if (i % 3 == 0 && i / 3 < k) add("ab cd ");
    }
    run_gr();
    CHECKF(failed("gopher_repetition.top_2_gram", &v) == over && (over ? v > 0.2 : v > 0.15),
           "over=%d v=%g", over, v);
  }
  /* duplicated 5-grams: a 5-word phrase repeated */
  reset();
  for (int i = 0; i < 200; i++) add("%s ", uword(i));
  size_t base = dn;
  for (int r = 0; r < 12; r++) add("one two three four five %s ", uword(500 + r));
  run_gr();
  CHECK(failed("gopher_repetition.duplicated_5_n_grams", &v) == (v > 0.15));
  CHECKF(v > 0.1 && v < 0.3, "dup5 v=%g base=%zu", v, base);
  /* natural prose passes everything */
  reset();
  for (int i = 0; i < 400; i++) add("%s%s", uword(i), i % 12 == 11 ? ".\n" : " ");
  run_gr();
  int any = 0;
  for (int i = 0; i < T.n; i++) any |= T.e[i].failed;
  CHECK(!any && T.n == 4 + 3 + 6);
}

static void test_fineweb(void) {
  double v = 0;
  /* lines ending in punctuation: 12 of 100 passes, 11 fails */
  for (int k = 11; k <= 12; k++) {
    reset();
    for (int l = 0; l < 100; l++) {
      for (int i = 0; i < 8; i++) add("%s ", uword(l * 8 + i));
      dn--;
      add("%s\n", l < k ? "." : "");
    }
    run_fw();
    CHECKF(failed("fineweb.line_punct_ratio", &v) == (k == 11), "k=%d v=%g", k, v);
  }
  /* short lines: 67 of 100 pass, 68 fail */
  for (int k = 67; k <= 68; k++) {
    reset();
    for (int l = 0; l < 100; l++) {
      if (l < k) add("%s %s.\n", uword(l), uword(l + 500));
      else {
        for (int i = 0; i < 10; i++) add("%s ", uword(1000 + l * 10 + i));
        add("end.\n");
      }
    }
    run_fw();
    CHECKF(failed("fineweb.short_line_ratio", &v) == (k == 68), "k=%d v=%g", k, v);
  }
  /* duplicated line bytes: 1% passes, more fails */
  for (int over = 0; over < 2; over++) {
    reset();
    for (int l = 0; l < 50; l++) {
      for (int i = 0; i < 10; i++) add("%s ", uword(l * 10 + i));
      add("end.\n");
    }
    size_t body = dn - 50;
    /* one line of L bytes, twice: L / (body + 2L) */
    size_t L = (size_t)(0.01 * (double)body / 0.98) + (over ? 3 : -3);
    char line[256];
    memset(line, 'y', L);
    line[L] = 0;
    add("%s\n%s", line, line);
    run_fw();
    CHECKF(failed("fineweb.char_dup_ratio", &v) == over, "over=%d v=%g", over, v);
  }
  /* newlines per word: 0.3 passes, more fails */
  for (int over = 0; over < 2; over++) {
    reset();
    int lines = over ? 31 : 30;
    for (int l = 0; l < 100; l++) add("%s%s", uword(l), l < lines ? ".\n" : " ");
    run_fw();
    CHECKF(failed("fineweb.list_ratio", &v) == over, "over=%d v=%g", over, v);
  }
}

static const char *c4(const char *text, int cjk, tm_textbuf *out, tm_c4_counts *cn) {
  tm_c4_params p;
  tm_c4_defaults(&p);
  const char *drop;
  out->len = 0;
  memset(cn, 0, sizeof *cn);
  T.n = 0;
  tm_c4_apply(text, strlen(text), &p, cjk, out, cn, &drop, &T);
  return drop;
}

static void test_c4(void) {
  tm_textbuf out = {0};
  tm_c4_counts cn;
  const char *five =
      "The first sentence is here. The second one follows it.\n"
      "Menu Home About\n"
      "Please enable JavaScript to view the comments below.\n"
      "This site uses cookies to improve your experience.\n"
      "Two words.\n"
      "A third sentence stands alone[1] on this line.\n"
      "The fourth sentence is short! Is this the fifth one?\n";
  const char *drop = c4(five, 0, &out, &cn);
  CHECKF(drop == NULL, "drop=%s", drop ? drop : "");
  CHECKF(!strcmp(out.p, "The first sentence is here. The second one follows it.\n"
                        "A third sentence stands alone on this line.\n"
                        "The fourth sentence is short! Is this the fifth one?"),
         "got '%s'", out.p);
  CHECK(cn.lines_removed == 4 && cn.no_terminal_punct == 1 && cn.javascript == 1 &&
        cn.policy == 1 && cn.too_few_words == 1);
  /* every policy phrase, in any case, removes its line */
  drop = c4("Read our Privacy Policy before you go on.\nThe TERMS OF USE apply to every visitor.\n"
            "See the cookie policy for the details.\nWe use cookies on this site, as most do.\n"
            "The use of cookies is explained below.\nA normal sentence stays here.\n",
            0, &out, &cn);
  CHECKF(cn.policy == 5 && !strcmp(out.p, "A normal sentence stays here."), "policy=%llu '%s'",
         (unsigned long long)cn.policy, out.p);
  /* four sentences are too few */
  drop = c4("One sentence here now. Two sentences here now.\nThree sentences here now. Four is the last.\n",
            0, &out, &cn);
  CHECK(drop && !strcmp(drop, "c4.too_few_sentences"));
  drop = c4("Lorem ipsum dolor sit amet, consectetur adipiscing elit. A. B. C. D.\n", 0, &out, &cn);
  CHECK(drop && !strcmp(drop, "c4.lorem_ipsum"));
  drop = c4("int main() { return 0; } is a program. One. Two. Three. Four.\n", 0, &out, &cn);
  CHECK(drop && !strcmp(drop, "c4.curly_bracket"));
  drop = c4("no punctuation here at all\nnor here\n", 0, &out, &cn);
  CHECK(drop && !strcmp(drop, "c4.no_sentences"));
  /* a word over 1000 characters removes its line */
  static char longw[1200];
  memset(longw, 'a', 1001);
  strcpy(longw + 1001, " is long.\n");
  drop = c4(longw, 0, &out, &cn);
  CHECK(cn.too_long_word == 1);
  /* long lines of ordinary words keep; exactly 1000 characters is not too long */
  static char longline[8192];
  size_t o = 0;
  for (int i = 0; i < 600; i++) o += (size_t)sprintf(longline + o, "%s ", uword(i));
  memset(longline + o, 'b', 1000);
  o += 1000;
  strcpy(longline + o, " ends here.\n");
  drop = c4(longline, 0, &out, &cn);
  CHECKF(cn.too_long_word == 0 && cn.lines_removed == 0, "long line removed: %llu",
         (unsigned long long)cn.too_long_word);
  longline[o - 1000 + 7] = 0x41; /* still 1000 */
  memmove(longline + o + 1, longline + o, strlen(longline + o) + 1);
  longline[o] = 'b'; /* now 1001 */
  drop = c4(longline, 0, &out, &cn);
  CHECK(cn.too_long_word == 1);
  /* CJK: characters are words, 。 ends sentences */
  drop = c4("\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe8\xaf\xbb\xe4\xb9\xa6\xe3\x80\x82" /* 我喜欢读书。 */
            "\xe4\xbb\x96\xe4\xb9\x9f\xe6\x98\xaf\xe3\x80\x82\xe5\xa5\xbd\xe3\x80\x82"
            "\xe5\xaf\xb9\xe3\x80\x82\xe6\x98\xaf\xe7\x9a\x84\xe3\x80\x82\n",
            1, &out, &cn);
  CHECKF(drop == NULL && cn.lines_removed == 0, "drop=%s", drop ? drop : "");
  tm_tb_free(&out);
}

/* ---- CJK -------------------------------------------------------------------- */

static const char *const zh[] = {
    "今天早上我去公园散步，看到很多老人在湖边打太极拳。",
    "春天的风很温暖，树上的花都开了，空气里有淡淡的香味。",
    "我的朋友是一位医生，他每天都要在医院工作十个小时。",
    "这座城市的历史很长，街道两旁有许多古老的建筑。",
    "孩子们放学以后喜欢在操场上踢足球和跑步。",
    "晚上我们一家人一起吃饭，聊一聊这一天发生的事情。",
    "图书馆里非常安静，大家都在认真地读书和写作业。",
    "下雨的时候，我喜欢坐在窗边喝茶，听雨水打在屋顶上的声音。",
};
static const char *const ja[] = {
    "今日は朝から雨が降っていたので、家で本を読んで過ごしました。",
    "駅の近くに新しいパン屋ができて、毎朝たくさんの人が並んでいます。",
    "私の兄は東京の会社で働いていて、週末に帰ってきます。",
    "夏休みには家族で海に行って、泳いだり花火を見たりしました。",
    "この町の図書館は古いですが、静かでとても居心地がいいです。",
    "友達と一緒に山に登って、頂上からきれいな景色を見ました。",
};

static int any_failed(void) {
  for (int i = 0; i < T.n; i++)
    if (T.e[i].failed) {
      fprintf(stderr, "  failed: %s = %g\n", T.e[i].rule, T.e[i].value);
      return 1;
    }
  return 0;
}

static void test_cjk(void) {
  double v = 0;
  reset(); /* two paragraphs of four sentences */
  for (size_t i = 0; i < 8; i++) add("%s%s", zh[i], i == 3 ? "\n\n" : i == 7 ? "" : "");
  run_gq("zh");
  CHECKF(failed("gopher_quality.short_doc", &v) == 0 && v > 150, "zh words=%g", v);
  CHECK(failed("gopher_quality.below_avg_threshold", NULL) == -1); /* skipped for CJK */
  CHECK(failed("gopher_quality.enough_stop_words", NULL) == 0);
  CHECK(!any_failed());
  run_gr();
  CHECK(!any_failed());
  run_fw();
  CHECK(!any_failed());
  /* detected as CJK by script even without a language */
  tm_words_split(&W, doc, dn);
  CHECK(tm_text_is_cjk(&W, NULL));
  /* a short Chinese text fails for being short, not for word length */
  reset();
  add("%s", zh[0]);
  run_gq("zh");
  CHECK(failed("gopher_quality.short_doc", NULL) == 1 &&
        failed("gopher_quality.below_avg_threshold", NULL) == -1);
  /* the same Chinese sentence over and over fails repetition */
  reset();
  for (int i = 0; i < 10; i++) add("%s\n", zh[2]);
  run_gr();
  CHECK(failed("gopher_repetition.dup_line_frac", NULL) == 1);
  /* Japanese */
  reset();
  for (size_t i = 0; i < 6; i++) add("%s\n", ja[i]);
  run_gq("ja");
  CHECK(!any_failed());
  /* Japanese without stop words: the ja list applies */
  reset();
  for (int i = 0; i < 60; i++) add("東京");
  run_gq("ja");
  CHECK(failed("gopher_quality.enough_stop_words", NULL) == 1);
  /* mixed: English prose with a Chinese phrase is segmented both ways */
  reset();
  add("The museum shows the old map of the city, called 城市地图 in Chinese, with notes.");
  tm_words_split(&W, doc, dn);
  CHECKF(W.n_words == 10 + 4 + 4, "mixed words=%llu", (unsigned long long)W.n_words);
  CHECK(W.n_cjk == 4 && !tm_text_is_cjk(&W, "en"));
}

int main(void) {
  test_gopher_quality();
  test_gopher_repetition();
  test_fineweb();
  test_c4();
  test_cjk();
  tm_words_free(&W);
  tm_quality_scratch_free(&QS);
  return tm_test_finish("test_filters");
}
