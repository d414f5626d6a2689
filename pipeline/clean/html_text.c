/* html_text.c - HTML to text with gumbo; see html_text.h. */
#include "html_text.h"

#include <gumbo.h>
#include <strings.h>

enum { KEEP = 0, SKIP = 1, LINE = 2, PARA = 3, CELL = 4, BREAK = 5 };

static unsigned char tag_kind[GUMBO_TAG_LAST + 1];

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

int tm_html_to_text(const char *html, size_t n, tm_textbuf *out, tm_textbuf *title) {
  if (!tag_kind[GUMBO_TAG_SCRIPT]) init_tags();
  GumboOutput *g = gumbo_parse_with_options(&kGumboDefaultOptions, html, n);
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
  gumbo_destroy_output(&kGumboDefaultOptions, g);
  if (rc == 0) rc = tm_tb_finish(out);
  if (rc == 0 && title) rc = tm_tb_finish(title);
  return rc;
}

int tm_html_parse_only(const char *html, size_t n) {
  GumboOutput *g = gumbo_parse_with_options(&kGumboDefaultOptions, html, n);
  if (!g) return -TM_ENOMEM;
  gumbo_destroy_output(&kGumboDefaultOptions, g);
  return 0;
}
