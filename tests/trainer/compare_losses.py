#!/usr/bin/env python3
"""Loss curves of resumed training runs against an uninterrupted one.

    compare_losses.py W STEPS REF RUN... [--close RUN --tol T] [--trained]

Each RUN under W (W/RUN/metrics.jsonl) must record steps 1..STEPS exactly
once and the same training and validation losses as REF, bit for bit.
--close RUN: RUN's losses within relative T of REF's at every step (another
thread count). --trained: REF's final loss is at least 1.0 below its first.
Prints the largest relative difference from the --close run, if any."""
import argparse
import json


def losses(w, d):
    rows = [json.loads(l) for l in open("%s/%s/metrics.jsonl" % (w, d))]
    return ([(r["step"], r["loss"]) for r in rows if "loss" in r],
            [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r])


ap = argparse.ArgumentParser()
ap.add_argument("w")
ap.add_argument("steps", type=int)
ap.add_argument("ref")
ap.add_argument("runs", nargs="+")
ap.add_argument("--close")
ap.add_argument("--tol", type=float, default=1e-4)
ap.add_argument("--trained", action="store_true")
a = ap.parse_args()

ref, ref_val = losses(a.w, a.ref)
assert [s for s, _ in ref] == list(range(1, a.steps + 1)), [s for s, _ in ref][:80]
for d in a.runs:
    b, bv = losses(a.w, d)
    assert [s for s, _ in b] == list(range(1, a.steps + 1)), (d, [s for s, _ in b][:80])
    diff = [(s, x, y) for (s, x), (_, y) in zip(ref, b) if x != y]
    assert not diff, (d, diff[:5])
    assert ref_val == bv, (d, ref_val, bv)
print("resumed runs %s match %s bit for bit at all %d steps" % (", ".join(a.runs), a.ref, a.steps))
if a.close:
    other, _ = losses(a.w, a.close)
    assert len(other) == len(ref), (len(other), len(ref))
    worst = max(abs(x - y) / abs(y) for (_, x), (_, y) in zip(ref, other))
    assert worst < a.tol, worst
    print("largest relative difference from %s: %.3g%s" % (a.close, worst, " (bitwise equal)" if worst == 0 else ""))
if a.trained:
    assert ref[-1][1] < ref[0][1] - 1.0, (ref[0], ref[-1])
