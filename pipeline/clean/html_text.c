/* html_text.c - HTML to text with gumbo; see html_text.h. */
#include "html_text.h"
#include "html_depth.h"
#include "normalize.h"

#include <gumbo.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

#ifdef TM_HAVE_MODEST
#include <myhtml/api.h>
#endif

enum { KEEP = 0, SKIP = 1, LINE = 2, PARA = 3, CELL = 4, BREAK = 5 };

static unsigned char tag_kind[GUMBO_TAG_LAST + 1];
static pthread_once_t tags_once = PTHREAD_ONCE_INIT; /* tables are filled once, for every thread */

static void init_tags(void) {
  static const GumboTag skip[] = {
      GUMBO_TAG_SCRIPT, GUMBO_TAG_STYLE,  GUMBO_TAG_NOSCRIPT, GUMBO_TAG_TEMPLATE, GUMBO_TAG_HEAD,
      GUMBO_TAG_NAV,    GUMBO_TAG_HEADER, GUMBO_TAG_FOOTER,   GUMBO_TAG_ASIDE,    GUMBO_TAG_FORM,
      GUMBO_TAG_BUTTON, GUMBO_TAG_SELECT, GUMBO_TAG_TEXTAREA, GUMBO_TAG_INPUT,    GUMBO_TAG_LABEL,
      GUMBO_TAG_IFRAME, GUMBO_TAG_OBJECT, GUMBO_TAG_EMBED,    GUMBO_TAG_SVG,      GUMBO_TAG_MATH,
      GUMBO_TAG_CANVAS, GUMBO_TAG_AUDIO,  GUMBO_TAG_VIDEO,    GUMBO_TAG_MAP,
      GUMBO_TAG_TITLE};
  static const GumboTag para[] = {
      GUMBO_TAG_P,     GUMBO_TAG_H1,         GUMBO_TAG_H2,  GUMBO_TAG_H3,      GUMBO_TAG_H4,
      GUMBO_TAG_H5,    GUMBO_TAG_H6,         GUMBO_TAG_UL,  GUMBO_TAG_OL,      GUMBO_TAG_DL,
      GUMBO_TAG_TABLE, GUMBO_TAG_BLOCKQUOTE, GUMBO_TAG_PRE, GUMBO_TAG_SECTION, GUMBO_TAG_ARTICLE,
      GUMBO_TAG_FIGURE, GUMBO_TAG_HR};
  static const GumboTag line[] = {GUMBO_TAG_DIV,     GUMBO_TAG_LI,      GUMBO_TAG_DT,
                                  GUMBO_TAG_DD,      GUMBO_TAG_TR,      GUMBO_TAG_CAPTION,
                                  GUMBO_TAG_ADDRESS, GUMBO_TAG_CENTER,  GUMBO_TAG_DETAILS,
                                  GUMBO_TAG_SUMMARY, GUMBO_TAG_FIGCAPTION, GUMBO_TAG_MAIN,
                                  GUMBO_TAG_BODY};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) tag_kind[skip[i]] = SKIP;
  for (size_t i = 0; i < sizeof para / sizeof para[0]; i++) tag_kind[para[i]] = PARA;
  for (size_t i = 0; i < sizeof line / sizeof line[0]; i++) tag_kind[line[i]] = LINE;
  tag_kind[GUMBO_TAG_TD] = tag_kind[GUMBO_TAG_TH] = CELL;
  tag_kind[GUMBO_TAG_BR] = BREAK;
}

static int is_hidden(const GumboElement *e) {
  if (gumbo_get_attribute(&e->attributes, "hidden")) return 1;
  GumboAttribute *a = gumbo_get_attribute(&e->attributes, "aria-hidden");
  if (a && !strcasecmp(a->value, "true")) return 1;
  a = gumbo_get_attribute(&e->attributes, "style");
  if (a) {
    /* compare without spaces: "display: none" == "display:none" */
    char buf[256];
    size_t k = 0;
    for (const char *p = a->value; *p && k < sizeof buf - 1; p++)
      if (*p != ' ' && *p != '\t') buf[k++] = *p;
    buf[k] = 0;
    if (strcasestr(buf, "display:none") || strcasestr(buf, "visibility:hidden")) return 1;
  }
  return 0;
}

typedef struct {
  tm_textbuf *out;
  size_t base;
  int pending; /* 0, LINE or PARA: a break owed before the next text */
  int space;   /* a space owed before the next text */
  int pre;     /* depth inside <pre> */
} emitter;

static void request(emitter *em, int level) {
  if (level > em->pending) em->pending = level;
}

static int emit_text(emitter *em, const char *t) {
  tm_textbuf *o = em->out;
  for (const char *p = t; *p;) {
    unsigned char c = (unsigned char)*p;
    if (!em->pre && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
      em->space = 1;
      p++;
      continue;
    }
    if (em->pre && c == '\n') {
      if (tm_tb_putc(o, '\n') < 0) return -TM_ENOMEM;
      p++;
      continue;
    }
    if (o->len > em->base) {
      if (em->pending) {
        if (tm_tb_puts(o, em->pending == PARA ? "\n\n" : "\n") < 0) return -TM_ENOMEM;
      } else if (em->space && tm_tb_putc(o, ' ') < 0) {
        return -TM_ENOMEM;
      }
    }
    em->pending = 0;
    em->space = 0;
    const char *q = p + 1;
    while (*q && (em->pre ? *q != '\n' : (unsigned char)*q > ' ')) q++;
    if (tm_tb_put(o, p, (size_t)(q - p)) < 0) return -TM_ENOMEM;
    p = q;
  }
  return 0;
}

static int collect_title(const GumboNode *n, tm_textbuf *title) {
  if (n->type != GUMBO_NODE_ELEMENT) return 0;
  const GumboVector *ch = &n->v.element.children;
  if (n->v.element.tag == GUMBO_TAG_TITLE) {
    emitter em = {title, title->len, 0, 0, 0};
    for (unsigned i = 0; i < ch->length; i++) {
      const GumboNode *c = ch->data[i];
      if (c->type == GUMBO_NODE_TEXT && emit_text(&em, c->v.text.text) < 0) return -TM_ENOMEM;
    }
    return 1;
  }
  for (unsigned i = 0; i < ch->length; i++) {
    int rc = collect_title(ch->data[i], title);
    if (rc) return rc;
  }
  return 0;
}

typedef struct {
  const GumboNode *node;
  unsigned next;
} frame;

/* gumbo 0.10 emits a raw byte for an out-of-range numeric character
 * reference (&#xaaaaaaaa...;), so what it appended from `from` on may not be
 * UTF-8: repair it in place (rare: checked first). */
static int repair_tail(tm_textbuf *b, size_t from) {
  if (!b || b->len <= from || tm_utf8_valid(b->p + from, b->len - from)) return 0;
  tm_textbuf fixed = {0};
  tm_repair_counts c = {0};
  int rc = tm_utf8_repair(b->p + from, b->len - from, &fixed, &c);
  if (rc == 0) {
    b->len = from;
    rc = tm_tb_put(b, fixed.p ? fixed.p : "", fixed.len);
    if (rc == 0) rc = tm_tb_finish(b);
  }
  tm_tb_free(&fixed);
  return rc;
}

static int gumbo_to_text(const char *html, size_t n, tm_textbuf *out, tm_textbuf *title) {
  size_t out_from = out->len, title_from = title ? title->len : 0;
  pthread_once(&tags_once, init_tags);
  GumboOptions opt = kGumboDefaultOptions;
  opt.max_errors = 0; /* parse errors are not kept: less memory and time on broken pages */
  GumboOutput *g = gumbo_parse_with_options(&opt, html, n);
  if (!g) return -TM_ENOMEM;
  int rc = 0;
  /* the title lives in head, which the walk skips */
  if (title) {
    const GumboNode *root = g->root;
    const GumboVector *ch = &root->v.element.children;
    for (unsigned i = 0; i < ch->length && rc == 0; i++) {
      const GumboNode *c = ch->data[i];
      if (c->type == GUMBO_NODE_ELEMENT && c->v.element.tag == GUMBO_TAG_HEAD)
        rc = collect_title(c, title) < 0 ? -TM_ENOMEM : 0;
    }
  }
  emitter em = {out, out->len, 0, 0, 0};
  size_t cap = 64, depth = 0;
  frame *st = malloc(cap * sizeof *st);
  if (!st) rc = -TM_ENOMEM;
  else st[depth++] = (frame){g->root, 0};
  while (rc == 0 && depth > 0) {
    frame *f = &st[depth - 1];
    const GumboNode *node = f->node;
    const GumboVector *ch = &node->v.element.children;
    if (f->next >= ch->length) { /* leave the element */
      GumboTag tag = node->v.element.tag;
      int k = tag_kind[tag];
      if (k == LINE || k == PARA) request(&em, k);
      else if (k == CELL) em.space = 1;
      if (tag == GUMBO_TAG_PRE) em.pre--;
      depth--;
      continue;
    }
    const GumboNode *c = ch->data[f->next++];
    switch (c->type) {
    case GUMBO_NODE_TEXT:
    case GUMBO_NODE_CDATA:
    case GUMBO_NODE_WHITESPACE: rc = emit_text(&em, c->v.text.text); break;
    case GUMBO_NODE_ELEMENT:
    case GUMBO_NODE_TEMPLATE: {
      GumboTag tag = c->v.element.tag;
      int k = tag_kind[tag];
      if (k == SKIP || c->type == GUMBO_NODE_TEMPLATE || is_hidden(&c->v.element)) {
        em.space = 1;
        break;
      }
      if (k == BREAK) {
        request(&em, LINE);
        break;
      }
      if (k == LINE || k == PARA) request(&em, k);
      else if (k == CELL) em.space = 1;
      if (tag == GUMBO_TAG_PRE) em.pre++;
      if (depth == cap) {
        frame *ns = realloc(st, cap * 2 * sizeof *st);
        if (!ns) {
          rc = -TM_ENOMEM;
          break;
        }
        st = ns;
        cap *= 2;
      }
      st[depth++] = (frame){c, 0};
      break;
    }
    default: break; /* comments, the document node */
    }
  }
  free(st);
  gumbo_destroy_output(&opt, g);
  if (rc == 0) rc = tm_tb_finish(out);
  if (rc == 0 && title) rc = tm_tb_finish(title);
  if (rc == 0) rc = repair_tail(out, out_from);
  if (rc == 0) rc = repair_tail(title, title_from);
  return rc;
}

/* Either parser is quadratic in nesting depth: a document nested deeper
 * than TM_HTML_MAX_DEPTH is parsed from a bounded copy (html_depth.h). */
static int bound_depth(const char **html, size_t *n, tm_textbuf *tmp) {
  long r = tm_html_bound_depth(*html, *n, TM_HTML_MAX_DEPTH, tmp);
  if (r < 0) return -TM_ENOMEM;
  if (r > 0) {
    *html = tmp->p;
    *n = tmp->len;
  }
  return 0;
}

int tm_html_to_text(const char *html, size_t n, tm_textbuf *out, tm_textbuf *title) {
  tm_textbuf tmp = {0};
  int rc = bound_depth(&html, &n, &tmp);
  if (rc == 0) rc = gumbo_to_text(html, n, out, title);
  tm_tb_free(&tmp);
  return rc;
}

int tm_html_parse_only(const char *html, size_t n) {
  GumboOptions opt = kGumboDefaultOptions;
  opt.max_errors = 0;
  GumboOutput *g = gumbo_parse_with_options(&opt, html, n);
  if (!g) return -TM_ENOMEM;
  gumbo_destroy_output(&opt, g);
  return 0;
}

/* ---- the parser object, and the myhtml walk -------------------------------- */

struct tm_html_parser {
  tm_html_backend backend;
#ifdef TM_HAVE_MODEST
  myhtml_t *mh;
  myhtml_tree_t *tree;
#endif
};

int tm_html_have_myhtml(void) {
#ifdef TM_HAVE_MODEST
  return 1;
#else
  return 0;
#endif
}

int tm_html_backend_parse(const char *s) {
  if (!strcasecmp(s, "auto")) return TM_HTML_AUTO;
  if (!strcasecmp(s, "gumbo")) return TM_HTML_GUMBO;
  if (!strcasecmp(s, "myhtml") || !strcasecmp(s, "modest")) return TM_HTML_MYHTML;
  return -1;
}

int tm_html_parser_new(tm_html_parser **out, tm_html_backend b) {
  *out = NULL;
  if (b == TM_HTML_AUTO) b = tm_html_have_myhtml() ? TM_HTML_MYHTML : TM_HTML_GUMBO;
  if (b == TM_HTML_MYHTML && !tm_html_have_myhtml()) return -TM_EINVAL;
  tm_html_parser *p = calloc(1, sizeof *p);
  if (!p) return -TM_ENOMEM;
  p->backend = b;
#ifdef TM_HAVE_MODEST
  if (b == TM_HTML_MYHTML) {
    p->mh = myhtml_create();
    p->tree = myhtml_tree_create();
    if (!p->mh || myhtml_init(p->mh, MyHTML_OPTIONS_PARSE_MODE_SINGLE, 1, 0) != MyHTML_STATUS_OK ||
        !p->tree || myhtml_tree_init(p->tree, p->mh) != MyHTML_STATUS_OK) {
      tm_html_parser_free(p);
      return -TM_ENOMEM;
    }
  }
#endif
  *out = p;
  return 0;
}

void tm_html_parser_free(tm_html_parser *p) {
  if (!p) return;
#ifdef TM_HAVE_MODEST
  if (p->tree) myhtml_tree_destroy(p->tree);
  if (p->mh) myhtml_destroy(p->mh);
#endif
  free(p);
}

tm_html_backend tm_html_parser_backend(const tm_html_parser *p) { return p->backend; }

#ifdef TM_HAVE_MODEST
static unsigned char mh_kind[MyHTML_TAG_LAST_ENTRY + 1];
static pthread_once_t mh_tags_once = PTHREAD_ONCE_INIT;

static void init_mh_tags(void) {
  static const myhtml_tag_id_t skip[] = {
      MyHTML_TAG_SCRIPT, MyHTML_TAG_STYLE,  MyHTML_TAG_NOSCRIPT, MyHTML_TAG_TEMPLATE, MyHTML_TAG_HEAD,
      MyHTML_TAG_NAV,    MyHTML_TAG_HEADER, MyHTML_TAG_FOOTER,   MyHTML_TAG_ASIDE,    MyHTML_TAG_FORM,
      MyHTML_TAG_BUTTON, MyHTML_TAG_SELECT, MyHTML_TAG_TEXTAREA, MyHTML_TAG_INPUT,    MyHTML_TAG_LABEL,
      MyHTML_TAG_IFRAME, MyHTML_TAG_OBJECT, MyHTML_TAG_EMBED,    MyHTML_TAG_SVG,      MyHTML_TAG_MATH,
      MyHTML_TAG_CANVAS, MyHTML_TAG_AUDIO,  MyHTML_TAG_VIDEO,    MyHTML_TAG_MAP,      MyHTML_TAG_TITLE};
  static const myhtml_tag_id_t para[] = {
      MyHTML_TAG_P,     MyHTML_TAG_H1,         MyHTML_TAG_H2,  MyHTML_TAG_H3,      MyHTML_TAG_H4,
      MyHTML_TAG_H5,    MyHTML_TAG_H6,         MyHTML_TAG_UL,  MyHTML_TAG_OL,      MyHTML_TAG_DL,
      MyHTML_TAG_TABLE, MyHTML_TAG_BLOCKQUOTE, MyHTML_TAG_PRE, MyHTML_TAG_SECTION, MyHTML_TAG_ARTICLE,
      MyHTML_TAG_FIGURE, MyHTML_TAG_HR};
  static const myhtml_tag_id_t line[] = {
      MyHTML_TAG_DIV,     MyHTML_TAG_LI,      MyHTML_TAG_DT,      MyHTML_TAG_DD,      MyHTML_TAG_TR,
      MyHTML_TAG_CAPTION, MyHTML_TAG_ADDRESS, MyHTML_TAG_CENTER,  MyHTML_TAG_DETAILS, MyHTML_TAG_SUMMARY,
      MyHTML_TAG_FIGCAPTION, MyHTML_TAG_MAIN, MyHTML_TAG_BODY};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) mh_kind[skip[i]] = SKIP;
  for (size_t i = 0; i < sizeof para / sizeof para[0]; i++) mh_kind[para[i]] = PARA;
  for (size_t i = 0; i < sizeof line / sizeof line[0]; i++) mh_kind[line[i]] = LINE;
  mh_kind[MyHTML_TAG_TD] = mh_kind[MyHTML_TAG_TH] = CELL;
  mh_kind[MyHTML_TAG_BR] = BREAK;
}

static int mh_kind_of(myhtml_tag_id_t t) { return t <= MyHTML_TAG_LAST_ENTRY ? mh_kind[t] : KEEP; }

static int mh_hidden(myhtml_tree_node_t *n) {
  if (!myhtml_node_attribute_first(n)) return 0; /* most elements have no attributes */
  if (myhtml_attribute_by_key(n, "hidden", 6)) return 1;
  myhtml_tree_attr_t *a = myhtml_attribute_by_key(n, "aria-hidden", 11);
  const char *v;
  if (a && (v = myhtml_attribute_value(a, NULL)) && !strcasecmp(v, "true")) return 1;
  a = myhtml_attribute_by_key(n, "style", 5);
  if (a && (v = myhtml_attribute_value(a, NULL))) {
    char buf[256];
    size_t k = 0;
    for (const char *p = v; *p && k < sizeof buf - 1; p++)
      if (*p != ' ' && *p != '\t') buf[k++] = *p;
    buf[k] = 0;
    if (strcasestr(buf, "display:none") || strcasestr(buf, "visibility:hidden")) return 1;
  }
  return 0;
}

/* Leaving an element: the break or space it owes. */
static void mh_leave(emitter *em, myhtml_tree_node_t *n) {
  myhtml_tag_id_t tag = myhtml_node_tag_id(n);
  int k = mh_kind_of(tag);
  if (k == LINE || k == PARA) request(em, k);
  else if (k == CELL) em->space = 1;
  if (tag == MyHTML_TAG_PRE) em->pre--;
}

static int mh_text_of(myhtml_tree_node_t *n, emitter *em) {
  for (myhtml_tree_node_t *c = myhtml_node_child(n); c; c = myhtml_node_next(c))
    if (myhtml_node_tag_id(c) == MyHTML_TAG__TEXT) {
      const char *t = myhtml_node_text(c, NULL);
      if (t && emit_text(em, t) < 0) return -TM_ENOMEM;
    }
  return 0;
}

/* Length of html without a tag left open by the end of input. HTML5
 * drops such a tag (the "eof-in-tag" parse error), as gumbo does; myhtml
 * instead keeps it as text (fuzz_html found it, beside libmodest's
 * overlapping memcpy when merging text nodes: see tests/asan.supp). A '<'
 * starts a tag when a letter, or '/' and a letter, follows it; an open tag
 * is the first one after the last '>'. */
static size_t without_open_tag(const char *s, size_t n) {
  const char *gt = memrchr(s, '>', n);
  size_t i = gt ? (size_t)(gt - s) + 1 : 0;
  while (i < n) {
    const char *lt = memchr(s + i, '<', n - i);
    if (!lt) break;
    size_t t = (size_t)(lt - s);
    i = t + 1;
    if (i < n && s[i] == '/') i++;
    if (i < n && (s[i] | 32) >= 'a' && (s[i] | 32) <= 'z') return t;
  }
  return n;
}

static int mh_extract(tm_html_parser *p, const char *html, size_t n, tm_textbuf *out,
                      tm_textbuf *title) {
  pthread_once(&mh_tags_once, init_mh_tags);
  n = without_open_tag(html, n);
  /* A '<' that ends the input is text ("d<"), but myhtml then loses the
   * text node before it when an element came earlier ("<p>a</p>d<" gave
   * "a"; gumbo, like the spec, "a d<"). Parsed with a space after it, the
   * '<' is read as text, and the space goes with the trailing whitespace. */
  char *copy = NULL;
  if (n && html[n - 1] == '<') {
    if (!(copy = malloc(n + 1))) return -TM_ENOMEM;
    memcpy(copy, html, n);
    copy[n++] = ' ';
    html = copy;
  }
  if (myhtml_parse(p->tree, MyENCODING_UTF_8, html, n) != MyHTML_STATUS_OK) {
    myhtml_tree_clean(p->tree); /* ready for the next document */
    free(copy);
    return -TM_ENOMEM;
  }
  int rc = 0;
  myhtml_tree_node_t *head = myhtml_tree_get_node_head(p->tree);
  if (title && head) {
    emitter te = {title, title->len, 0, 0, 0};
    for (myhtml_tree_node_t *c = myhtml_node_child(head); c && rc == 0; c = myhtml_node_next(c))
      if (myhtml_node_tag_id(c) == MyHTML_TAG_TITLE) {
        rc = mh_text_of(c, &te);
        break;
      }
  }
  emitter em = {out, out->len, 0, 0, 0};
  myhtml_tree_node_t *root = myhtml_tree_get_node_html(p->tree);
  myhtml_tree_node_t *node = root ? myhtml_node_child(root) : NULL;
  /* depth-first without a stack: child, else next sibling, else climb */
  while (node && rc == 0) {
    myhtml_tag_id_t tag = myhtml_node_tag_id(node);
    int descend = 0;
    if (tag == MyHTML_TAG__TEXT) {
      const char *t = myhtml_node_text(node, NULL);
      if (t) rc = emit_text(&em, t);
    } else if (tag != MyHTML_TAG__COMMENT) {
      int k = mh_kind_of(tag);
      if (k == SKIP || mh_hidden(node)) {
        em.space = 1;
      } else if (k == BREAK) {
        request(&em, LINE);
      } else {
        if (k == LINE || k == PARA) request(&em, k);
        else if (k == CELL) em.space = 1;
        if (tag == MyHTML_TAG_PRE) em.pre++;
        descend = 1;
      }
    }
    myhtml_tree_node_t *c = descend ? myhtml_node_child(node) : NULL;
    if (c) {
      node = c;
      continue;
    }
    if (descend) mh_leave(&em, node); /* an empty element */
    while (node && !myhtml_node_next(node)) {
      node = myhtml_node_parent(node);
      if (!node || node == root) {
        node = NULL;
        break;
      }
      mh_leave(&em, node);
    }
    if (node) node = myhtml_node_next(node);
  }
  myhtml_tree_clean(p->tree);
  free(copy);
  if (rc == 0) rc = tm_tb_finish(out);
  if (rc == 0 && title) rc = tm_tb_finish(title);
  return rc;
}
#endif

int tm_html_extract(tm_html_parser *p, const char *html, size_t n, tm_textbuf *out,
                    tm_textbuf *title) {
  tm_textbuf tmp = {0};
  int rc = bound_depth(&html, &n, &tmp), myhtml = 0;
#ifdef TM_HAVE_MODEST
  myhtml = p->backend == TM_HTML_MYHTML;
  if (rc == 0 && myhtml) rc = mh_extract(p, html, n, out, title);
#else
  (void)p;
#endif
  if (rc == 0 && !myhtml) rc = gumbo_to_text(html, n, out, title);
  tm_tb_free(&tmp);
  return rc;
}
