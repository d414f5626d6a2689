#!/usr/bin/env python3
"""Summarise `tokenmill clean` outputs: per source, in/kept/dropped/modified
and the top drop rules with three examples each. Usage: corpora_report.py OUT NAME..."""
import json
import os
import sys
from collections import defaultdict

out, names = sys.argv[1], sys.argv[2:]
for name in names:
    d = os.path.join(out, name)
    st = json.load(open(os.path.join(d, "stats.json")))
    for source, s in st["sources"].items():
        print(f"== {name} (profile {s['profile']}, source {source})")
        r = s["reader"]
        print(f"   read {r['records']} records ({r['bytes_decoded'] / 1e6:.2f} MB decoded from "
              f"{r['bytes_read'] / 1e6:.2f} MB), {r['rejected']} rejected into quarantine, {r['skipped']} skipped")
        for k in ("in", "kept", "dropped", "modified"):
            print(f"   {k:9s} {s[k]['docs']:7d} docs {s[k]['bytes'] / 1e6:9.2f} MB")
        mods = ", ".join(f"{k} {v['docs']}" for k, v in sorted(s["modified_by_step"].items(), key=lambda kv: -kv[1]["docs"]))
        print(f"   modified by step (docs): {mods}")
        cnt = {k: v for k, v in s["counts"].items() if v}
        print(f"   counts: {cnt}")
        ex = defaultdict(list)
        with open(os.path.join(d, "rejects.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                if len(ex[j["reason"]]) < 3:
                    ex[j["reason"]].append((j["id"], j["text"]))
        rules = sorted(s["dropped_by_rule"].items(), key=lambda kv: -kv[1]["docs"])
        print("   dropped by rule:")
        for i, (rule, v) in enumerate(rules):
            print(f"     {rule:45s} {v['docs']:6d} docs {v['bytes'] / 1e6:8.2f} MB")
            if i < 5:
                for id_, text in ex[rule]:
                    t = text.replace("\n", " / ")[:110]
                    print(f"         e.g. {id_[-48:]}: \"{t}\"")
        print()
