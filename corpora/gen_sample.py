#!/usr/bin/env python3
"""Deterministic sample corpus for tests and the quickstart (no network).

Writes into OUTDIR:
  web.jsonl        {"id","url","text"}   web articles, with boilerplate lines
  web_html.jsonl   {"id","url","html"}   the same kind of pages as HTML (nav, footer, script)
  books/*.txt      long prose with a Project Gutenberg header/footer, page numbers,
                   running headers and end-of-line hyphenation
  social.jsonl     {"id","user","text","created_at"} short posts (mentions, hashtags,
                   URLs, character floods, emoji)
  zh.jsonl         {"id","url","text"}   Chinese articles (no spaces between words)
  planted.json     what was planted: exact duplicates, near duplicates, junk, with ids

Planted material: exact duplicates (same text, new id), near duplicates (a few
words changed), junk (binary bytes, markup soup, one line repeated, lorem
ipsum, word salad without stop words). Same seed -> same bytes.

Usage: gen_sample.py [--seed S] [--docs N] OUTDIR
"""
import argparse
import json
import os
import random

WORDS = ("time year people way day man thing woman life child world school state family "
         "student group country problem hand part place case week company system program "
         "question work government number night point home water room mother area money "
         "story fact month lot right study book eye job word business issue side kind head "
         "house service friend father power hour game line end member law car city community "
         "name president team minute idea kid body information back parent face others level "
         "office door health person art war history party result change morning reason "
         "research girl guy moment air teacher force education river garden market harbor "
         "engine letter winter summer bridge village island forest mountain valley").split()
VERBS = ("is was makes takes gives finds tells asks seems feels leaves keeps brings begins "
         "shows hears plays runs moves lives believes holds writes provides stands loses pays "
         "meets includes continues sets learns leads understands watches follows stops creates "
         "speaks reads spends grows opens walks offers remembers considers appears buys waits "
         "serves sends expects builds stays falls reaches kills remains suggests raises passes").split()
ADJS = ("good new first last long great little own other old right big high different small "
        "large next early young important few public bad same able local sure free better "
        "true whole clear recent certain personal open red difficult available likely short "
        "single medical current wrong private past foreign fine common poor natural").split()
STARTS = ["The", "A", "Every", "This", "That", "Our", "Their", "One", "Each", "No"]
LINKS = ["and", "but", "because", "while", "although", "so", "when", "after", "before", "since"]
BOILER = ["Accept all cookies to continue browsing this site.",
          "Privacy Policy | Terms of Use | Contact",
          "Please enable JavaScript to view the comments.",
          "Share this article", "Sign up for our newsletter", "Home > News > Local"]
ZH = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过"
      "子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体"
      "制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内"
      "数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提"
      "直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计"
      "别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海")
EMOJI = ["\U0001F600", "\U0001F44D", "\U0001F389", "\u2764\ufe0f", "\U0001F525"]


def sentence(rng):
    s = "%s %s %s %s the %s %s %s." % (
        rng.choice(STARTS), rng.choice(ADJS), rng.choice(WORDS), rng.choice(VERBS),
        rng.choice(WORDS), rng.choice(LINKS), " ".join(
            [rng.choice(["the", "a", "his", "her", "its"]), rng.choice(ADJS), rng.choice(WORDS),
             rng.choice(VERBS), "to", "the", rng.choice(WORDS), "of", "the", rng.choice(WORDS)]))
    return s


def paragraph(rng, n):
    return " ".join(sentence(rng) for _ in range(n))


def article(rng, paras=(3, 7)):
    return "\n\n".join(paragraph(rng, rng.randint(3, 6)) for _ in range(rng.randint(*paras)))


def zh_article(rng):
    paras = []
    for _ in range(rng.randint(3, 6)):
        sents = []
        for _ in range(rng.randint(4, 9)):
            sents.append("".join(rng.choice(ZH) for _ in range(rng.randint(8, 24))) + rng.choice("。！？"))
        paras.append("".join(sents))
    return "\n\n".join(paras)


def near_copy(rng, text, frac=0.01):
    words = text.split(" ")
    # replace plain words only: an edit at a sentence end would change what
    # the line filters do with the whole line, not make a near duplicate
    plain = [i for i, w in enumerate(words) if w.isalpha()]
    for _ in range(max(1, int(len(words) * frac))):
        words[rng.choice(plain)] = rng.choice(WORDS)
    return " ".join(words)


def junk(rng, kind):
    if kind == "binary":
        return "".join(chr(rng.randrange(0x80, 0x2FF)) if rng.random() < 0.5 else chr(rng.randrange(1, 32))
                       for _ in range(2000))
    if kind == "markup":
        return "".join("<div class=\"x%d\"><span>{%d}</span></div>" % (i, i) for i in range(150))
    if kind == "repeated":
        line = "Click here to buy cheap watches now"
        return "\n".join([line] * 80)
    if kind == "lorem":
        return ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30).strip()
    if kind == "salad":
        return " ".join(rng.choice(WORDS) for _ in range(400))
    raise ValueError(kind)


def html_page(rng, title, body):
    paras = "".join("<p>%s</p>\n" % p.replace("&", "&amp;") for p in body.split("\n\n"))
    return ("<!DOCTYPE html><html><head><title>%s</title><style>p{color:red}</style>"
            "<script>var tracking = {id: 42};</script></head><body>"
            "<nav><a href=\"/\">Home</a> | <a href=\"/about\">About</a></nav>"
            "<header><h1>%s</h1></header><main><article>\n%s</article></main>"
            "<aside>Related: <a href=\"/x\">more stories</a></aside>"
            "<footer>&copy; 2024 Example Media. Privacy Policy | Terms of Use</footer>"
            "</body></html>" % (title, title, paras))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--docs", type=int, default=200, help="documents per source kind")
    ap.add_argument("outdir")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.outdir, "books"), exist_ok=True)
    planted = {"exact_duplicates": [], "near_duplicates": [], "junk": [], "boilerplate_lines": BOILER}

    # web
    web = []
    for i in range(a.docs):
        text = article(rng)
        if rng.random() < 0.5:
            text = rng.choice(BOILER) + "\n\n" + text + "\n\n" + rng.choice(BOILER)
        web.append({"id": "web-%05d" % i, "url": "https://news.example.com/a/%d" % i, "text": text})
    n_plant = max(2, a.docs // 20)
    for k in range(n_plant):
        src = web[rng.randrange(a.docs)]
        dup = {"id": "web-dup-%03d" % k, "url": src["url"] + "?ref=%d" % k, "text": src["text"]}
        web.append(dup)
        planted["exact_duplicates"].append({"id": dup["id"], "duplicate_of": src["id"]})
        src = web[rng.randrange(a.docs)]
        near = {"id": "web-near-%03d" % k, "url": src["url"] + "#near", "text": near_copy(rng, src["text"])}
        web.append(near)
        planted["near_duplicates"].append({"id": near["id"], "duplicate_of": src["id"]})
    for k, kind in enumerate(["binary", "markup", "repeated", "lorem", "salad"] * max(1, n_plant // 5)):
        j = {"id": "web-junk-%03d" % k, "url": "https://spam.example.com/%d" % k, "text": junk(rng, kind)}
        web.append(j)
        planted["junk"].append({"id": j["id"], "kind": kind})
    order = list(range(len(web)))
    # planted copies come after their originals: keep originals first, shuffle the rest in
    head, tail = order[:a.docs], order[a.docs:]
    rng.shuffle(tail)
    with open(os.path.join(a.outdir, "web.jsonl"), "w", encoding="utf-8") as f:
        for i in head + tail:
            f.write(json.dumps(web[i], ensure_ascii=False) + "\n")

    with open(os.path.join(a.outdir, "web_html.jsonl"), "w", encoding="utf-8") as f:
        for i in range(max(1, a.docs // 4)):
            title = "%s %s of the %s" % (rng.choice(STARTS), rng.choice(ADJS), rng.choice(WORDS))
            f.write(json.dumps({"id": "html-%05d" % i, "url": "https://blog.example.org/p/%d" % i,
                                "html": html_page(rng, title, article(rng))}) + "\n")

    # books
    for b in range(max(1, a.docs // 50)):
        lines = ["The Project Gutenberg eBook of Sample Book %d" % b, "",
                 "This eBook is for the use of anyone anywhere in the United States and most other parts",
                 "of the world at no cost and with almost no restrictions whatsoever.", "",
                 "*** START OF THE PROJECT GUTENBERG EBOOK SAMPLE BOOK %d ***" % b, ""]
        for ch in range(1, 6):
            lines += ["", "CHAPTER %d" % ch, ""]
            for p in range(12):
                words = paragraph(rng, rng.randint(4, 8)).split(" ")
                cur = ""
                for w in words:
                    if len(cur) + len(w) + 1 > 68:
                        if len(w) > 6 and rng.random() < 0.3:
                            cut = len(w) // 2
                            lines.append(cur + " " + w[:cut] + "-")
                            cur = w[cut:]
                            continue
                        lines.append(cur)
                        cur = w
                    else:
                        cur = (cur + " " + w).strip()
                lines += [cur, ""]
                if p % 4 == 3:
                    lines += ["%d" % (ch * 10 + p), "SAMPLE BOOK %d" % b, ""]
        lines += ["", "*** END OF THE PROJECT GUTENBERG EBOOK SAMPLE BOOK %d ***" % b, "",
                  "Updated editions will replace the previous one--the old editions will be renamed."]
        with open(os.path.join(a.outdir, "books", "book-%02d.txt" % b), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    # social
    with open(os.path.join(a.outdir, "social.jsonl"), "w", encoding="utf-8") as f:
        for i in range(a.docs):
            words = [rng.choice(["I", "we", "you"]), rng.choice(["really", "just", "never", "always"]),
                     rng.choice(["love", "hate", "saw", "want", "need"]), "the",
                     rng.choice(ADJS), rng.choice(WORDS), "at", "the", rng.choice(WORDS),
                     rng.choice(["today", "tonight", "again", "already"])]
            if rng.random() < 0.4:
                words.append("@user%d" % rng.randrange(1000))
            if rng.random() < 0.4:
                words.append("#%s" % rng.choice(WORDS))
            if rng.random() < 0.2:
                words.append("https://t.example/%x" % rng.randrange(1 << 30))
            if rng.random() < 0.2:
                words.append("so" + "o" * rng.randint(5, 12) + " good")
            if rng.random() < 0.3:
                words.append(rng.choice(EMOJI))
            text = " ".join(words)
            text = text[0].upper() + text[1:]
            f.write(json.dumps({"id": "post-%06d" % i, "user": "u%d" % rng.randrange(500), "text": text,
                                "created_at": "2024-%02d-%02dT%02d:%02d:00Z" % (
                                    rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                                    rng.randint(0, 59))}, ensure_ascii=False) + "\n")

    # Chinese
    zh = [{"id": "zh-%05d" % i, "url": "https://zh.example.cn/%d" % i, "text": zh_article(rng)}
          for i in range(max(2, a.docs // 4))]
    near = dict(zh[0])
    chars = list(near["text"])
    for _ in range(3):
        chars[rng.randrange(len(chars))] = rng.choice(ZH)
    zh.append({"id": "zh-near-000", "url": near["url"] + "#near", "text": "".join(chars)})
    planted["near_duplicates"].append({"id": "zh-near-000", "duplicate_of": zh[0]["id"]})
    with open(os.path.join(a.outdir, "zh.jsonl"), "w", encoding="utf-8") as f:
        for d in zh:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")

    with open(os.path.join(a.outdir, "planted.json"), "w") as f:
        json.dump(planted, f, indent=1)


if __name__ == "__main__":
    main()
