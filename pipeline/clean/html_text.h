/* html_text.h - visible text of an HTML document (gumbo).
 *
 * The HTML5 parser (gumbo) builds the tree exactly as a browser would
 * (entities decoded, broken markup repaired); we walk it iteratively (no
 * recursion: depth is unbounded on hostile input) and keep the text a
 * reader sees in the main content:
 *
 *  - dropped with their whole subtree: script, style, noscript, template,
 *    head (the <title> is kept apart), nav, header, footer, aside, form,
 *    button, select, textarea, input, label, iframe, object, embed, svg,
 *    math, canvas, audio, video, map; and hidden elements (the
 *    hidden attribute, aria-hidden="true", style "display:none" or
 *    "visibility:hidden").
 *  - paragraph breaks (a blank line) around p, h1..h6, ul, ol, dl, table,
 *    blockquote, pre, section, article, figure, hr; line breaks around div,
 *    li, dt, dd, tr, br, caption, address, center, details, summary,
 *    figcaption, main; table cells are separated by a space.
 *  - white space inside text collapses (except in pre); the result still
 *    goes through tm_text_whitespace.
 *
 * A document nested deeper than TM_HTML_MAX_DEPTH elements is parsed from
 * a copy bounded to that depth (html_depth.h): parsing is quadratic in depth.
 *
 * Appends the text to out and the title (collapsed) to title (may be NULL).
 * Returns 0 or -TM_ENOMEM. Input must be UTF-8 (run tm_utf8_repair first).
 */
#ifndef TM_HTML_TEXT_H
#define TM_HTML_TEXT_H

#include <stddef.h>

#include "textbuf.h"

int tm_html_to_text(const char *html, size_t n, tm_textbuf *out, tm_textbuf *title);

/* Parse only, no extraction and no depth bound (the benchmark's floor). Returns 0 or
 * -TM_ENOMEM. */
int tm_html_parse_only(const char *html, size_t n);

/* Two HTML5 parsers give the same text through the same rules: gumbo
 * (always built) and myhtml from Debian's libmodest (built in when
 * libmodest-dev is installed, TM_HAVE_MODEST), which parses about 2.8x
 * faster here (tests/bench/clean). A tm_html_parser holds the parser's
 * reusable state; use one per thread. */
typedef enum { TM_HTML_AUTO = 0, TM_HTML_GUMBO = 1, TM_HTML_MYHTML = 2 } tm_html_backend;

/* 1 when myhtml is built in. */
int tm_html_have_myhtml(void);
/* "auto" (myhtml when built in, else gumbo), "gumbo", "myhtml" -> value; -1 if unknown. */
int tm_html_backend_parse(const char *s);

typedef struct tm_html_parser tm_html_parser;

/* -TM_EINVAL for myhtml when it is not built in, -TM_ENOMEM. */
int tm_html_parser_new(tm_html_parser **out, tm_html_backend b);
void tm_html_parser_free(tm_html_parser *p);
tm_html_backend tm_html_parser_backend(const tm_html_parser *p);
/* As tm_html_to_text with the parser's backend. */
int tm_html_extract(tm_html_parser *p, const char *html, size_t n, tm_textbuf *out,
                    tm_textbuf *title);

#endif
