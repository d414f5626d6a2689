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
 * Appends the text to out and the title (collapsed) to title (may be NULL).
 * Returns 0 or -TM_ENOMEM. Input must be UTF-8 (run tm_utf8_repair first).
 */
#ifndef TM_HTML_TEXT_H
#define TM_HTML_TEXT_H

#include <stddef.h>

#include "textbuf.h"

int tm_html_to_text(const char *html, size_t n, tm_textbuf *out, tm_textbuf *title);

/* Parse only, no extraction (the benchmark's floor). Returns 0 or
 * -TM_ENOMEM. */
int tm_html_parse_only(const char *html, size_t n);

#endif
