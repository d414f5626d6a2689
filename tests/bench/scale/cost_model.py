#!/usr/bin/python3
"""Scaling cost model for tokenmill's data-parallel training and distributed dedup.

Training (weak scaling: every node keeps its own micro-batch, the global batch
grows with the nodes): a step is compute + the ring all-reduce of the fp32
gradients that cannot hide behind the backward pass.

  ring all-reduce time  = 2 (N-1)/N * G / bw  +  2 (N-1) * latency
  G                     = 4 bytes * parameters

Compute per step comes from the FLOPs of the model (6 * params * tokens for
the matmuls plus attention, the figure `tokenmill-train bench` prints) at a
measured per-node rate (--gflops, default: what 2 cores of this machine reach
in OpenBLAS sgemm, about 200 GFLOP/s). The backward pass is ~2/3 of the
compute; bucketed all-reduce overlaps with it, so the exposed time is
max(0, allreduce - overlap * backward).

Dedup (multi-node build): each document sends its B band keys (8 bytes each)
plus an 8-byte reference to the rank owning each key's bucket range:
(N-1)/N * B * 16 bytes per document leave each node.

Usage: cost_model.py [--gflops 200] [--latency-us 5] [--overlap 0.8] [--docs-per-s 30000]
"""
import argparse

CONFIGS = {
    # name: (parameters, FLOP per step per node at its own batch)
    "S (4L d256, B8 T256)": (5.3e6, 7.1e10),
    "M (6L d384, B8 T256)": (13.9e6, 1.84e11),
    "GPT-2 124M (B8 T1024)": (124e6, 6 * 124e6 * 8 * 1024 * 1.15),
}
LINKS_GBPS = [25, 100, 400]
NODES = [2, 4, 8, 16, 32, 64, 128, 256, 512]


def allreduce_s(grad_bytes, n, gbps, latency_s):
    bw = gbps * 1e9 / 8
    return 2 * (n - 1) / n * grad_bytes / bw + 2 * (n - 1) * latency_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gflops", default="200,20000",
                    help="per-node compute rates to model, comma-separated (default: 2 CPU cores; a GPU-class node)")
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--overlap", type=float, default=0.8, help="share of the backward pass the all-reduce can hide behind")
    ap.add_argument("--docs-per-s", type=float, default=30000, help="documents per second per node in the build")
    ap.add_argument("--bands", type=int, default=14)
    a = ap.parse_args()
    lat = a.latency_us * 1e-6
    for gflops in [float(x) for x in a.gflops.split(",")]:
        train_table(a, lat, gflops)
    dedup_table(a)


def train_table(a, lat, gflops):
    print("Training: exposed all-reduce per step and scaling efficiency (compute at %.0f GFLOP/s per node, "
          "%.0f%% of backward overlappable)\n" % (gflops, a.overlap * 100))
    for name, (params, flop) in CONFIGS.items():
        compute = flop / (gflops * 1e9)
        backward = compute * 2 / 3
        g = 4 * params
        print("%s: %.1f M parameters, %.1f MB of gradients, compute %.3f s/step" % (name, params / 1e6, g / 1e6, compute))
        print("  %-6s" % "nodes" + "".join("  %8s Gb/s: allreduce  exposed  eff " % l for l in LINKS_GBPS))
        for n in NODES:
            row = "  %-6d" % n
            for gbps in LINKS_GBPS:
                ar = allreduce_s(g, n, gbps, lat)
                exposed = max(0.0, ar - a.overlap * backward)
                eff = compute / (compute + exposed)
                row += "  %13.4f s %8.4f s %4.0f%%" % (ar, exposed, eff * 100)
            print(row)
        # where scaling stops: first node count under 90% efficiency per link
        stops = []
        for gbps in LINKS_GBPS:
            bad = [n for n in NODES if compute / (compute + max(0.0, allreduce_s(g, n, gbps, lat) - a.overlap * backward)) < 0.9]
            stops.append("%d Gb/s: %s" % (gbps, ("below 90%% from %d nodes" % bad[0]) if bad else "above 90% to 512 nodes"))
        print("  -> " + "; ".join(stops) + "\n")


def dedup_table(a):
    print("Dedup exchange in a multi-node build (%d bands, 16 bytes per key and reference, %.0f docs/s per node)" % (a.bands, a.docs_per_s))
    print("  %-6s %16s %16s" % ("nodes", "bytes/doc out", "MB/s per node"))
    for n in NODES:
        per_doc = (n - 1) / n * a.bands * 16
        print("  %-6d %16.1f %16.2f" % (n, per_doc, per_doc * a.docs_per_s / 1e6))
    print("  (a 25 Gb/s link carries ~3000 MB/s: the exchange stays under 1% of it at any node count)")


if __name__ == "__main__":
    main()
