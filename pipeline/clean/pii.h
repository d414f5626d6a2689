/* pii.h - redaction of personal data: e-mail addresses, IPv4 and IPv6
 * addresses, phone numbers, each replaced by a configurable placeholder.
 *
 *  email  local@domain.tld: local part of [A-Za-z0-9._%+-], a domain of
 *         labels [A-Za-z0-9-] with at least one dot and an alphabetic TLD of
 *         2+ letters.
 *  ipv4   four dotted decimal octets 0..255, not inside a longer dotted or
 *         digit run (so version strings like 1.2.3.4.5 are left alone).
 *  ipv6   a run of hex digits and colons (optionally ending in dotted IPv4)
 *         with at least two colons and four hex digits that inet_pton accepts.
 *  phone  "+" or a digit/"(" at a word start, then digits and the separators
 *         space - . ( ): 10..15 digits (8..15 after "+"), at least two
 *         separators or a leading "+", no digit group over 5 digits, not
 *         followed by a letter or digit.
 * A NULL placeholder disables that kind.
 */
#ifndef TM_PII_H
#define TM_PII_H

#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

typedef struct tm_pii_params {
  const char *email, *ipv4, *ipv6, *phone; /* placeholders, NULL = keep */
} tm_pii_params;

typedef struct tm_pii_counts {
  uint64_t email, ipv4, ipv6, phone;
} tm_pii_counts;

int tm_pii_redact(const char *text, size_t n, const tm_pii_params *p, tm_textbuf *out,
                  tm_pii_counts *c);

#endif
