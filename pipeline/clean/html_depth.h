/* html_depth.h - bound the element nesting of HTML before it is parsed.
 *
 * HTML5 tree construction costs O(depth) per start tag: a <div>, <p>,
 * <ul>... first looks for an open <p> "in button scope", which walks the
 * whole stack of open elements. 100 000 nested <div>s therefore cost
 * minutes in gumbo and in myhtml alike (quadratic), on a 600 KB input.
 * Browsers bound the tree (Blink attaches elements past depth 512 to the
 * element at depth 512); we do the same before parsing, on the bytes:
 *
 *   a start tag that would open an element deeper than max_depth is
 *   removed, and so is the end tag that closes it; everything between
 *   (text, other markup) is kept. The text of the document is unchanged;
 *   only block breaks and attributes of the removed tags are lost.
 *
 * Depth is estimated by a tokenizer-level scan, not by tree construction:
 * comments, <!...> and <?...> are skipped; the contents of script, style,
 * textarea, title, xmp, iframe, noembed and noframes are raw text;
 * plaintext ends the scan; void elements (br, img, ...), self-closing tags
 * (<x/>), html/head/body and the elements a sibling closes implicitly (p,
 * li, dt, dd, tr, td, th, option, optgroup, thead, tbody, tfoot, colgroup,
 * caption, rb, rt, rtc, rp) do not count; every other end tag closes the
 * innermost counted element. A quoted attribute value may hold '>'. The
 * estimate errs towards depth (a stray unclosed <span> counts), which only
 * matters past max_depth: real pages nest a few dozen deep.
 *
 * Cost: one memchr-driven pass over the input; a second, copying pass only
 * for documents that exceed the bound.
 */
#ifndef TM_HTML_DEPTH_H
#define TM_HTML_DEPTH_H

#include <stddef.h>

#include "textbuf.h"

/* Blink's kMaximumHTMLParserDOMTreeDepth. */
#define TM_HTML_MAX_DEPTH 512

/* When html[0..n) nests deeper than max_depth (max_depth >= 1), appends the
 * bounded document to out and returns the number of tags removed (> 0).
 * Otherwise returns 0 and leaves out untouched: parse the input as it is.
 * Returns -TM_ENOMEM when out cannot grow. */
long tm_html_bound_depth(const char *html, size_t n, size_t max_depth, tm_textbuf *out);

#endif
