/* charset.h - legacy charsets of HTML pages.
 *
 * Readers hand over bytes as they are. Most pages are UTF-8; a page that is
 * not valid UTF-8 and declares another charset in its first 4 KiB
 * (<meta charset="...">, or http-equiv Content-Type "...; charset=...") or
 * in its HTTP Content-Type (metadata "content_type", from a WARC response)
 * is converted from that charset with iconv before the UTF-8 repair. Valid
 * UTF-8 is never converted, whatever it declares (many pages, and pages
 * already decoded by a crawler, declare a charset they no longer have).
 */
#ifndef TM_CHARSET_H
#define TM_CHARSET_H

#include <stddef.h>

#include "normalize.h" /* tm_utf8_valid */
#include "textbuf.h"

/* The declared charset (lowercased) into out; 0 when none is declared. */
int tm_html_charset(const char *html, size_t n, char *out, size_t cap);

/* Convert from charset to UTF-8, appending to out; a byte the charset does
 * not map becomes U+FFFD. Returns 0, -TM_EINVAL for an unknown charset, or
 * -TM_ENOMEM. */
int tm_charset_to_utf8(const char *charset, const char *in, size_t n, tm_textbuf *out);

#endif
