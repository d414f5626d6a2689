#!/usr/bin/env python3
"""The peer of `mpirun -np W tokenmill-train run`: PyTorch DistributedDataParallel
(gloo backend, CPU) over W local processes, each with batch B and N threads, the
same GPT-2 model and step as tests/bench/train/bench_torch.py (random tokens,
clipping at 1.0, AdamW). DDP buckets gradients (25 MiB) and overlaps their
allreduce with backward.

Usage: bench_torch_ddp.py --world W [bench_torch.py's flags]
Prints one line from rank 0: torch_ddp ... ms_per_step=... tokens_per_s=... (global)
"""
import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from bench_torch import GPT  # noqa: E402


def worker(rank, a):
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % a.port, rank=rank,
                            world_size=a.world)
    torch.manual_seed(0)
    m = GPT(a.layers, a.d_model, a.heads, a.seq_len, a.vocab)
    ddp = torch.nn.parallel.DistributedDataParallel(m)
    decay = [p for n, p in m.named_parameters() if p.dim() == 2 and "wte" not in n and "wpe" not in n]
    other = [p for n, p in m.named_parameters() if not (p.dim() == 2 and "wte" not in n and "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}], lr=3e-4, betas=(0.9, 0.95))
    g = torch.Generator().manual_seed(1000 + rank)
    total = cpu = 0.0
    for s in range(a.warmup + a.steps):
        idx = torch.randint(0, a.vocab, (a.batch, a.seq_len), generator=g)
        tgt = torch.randint(0, a.vocab, (a.batch, a.seq_len), generator=g)
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = ddp(idx, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if s >= a.warmup:
            total += dt
            cpu += dc
    if rank == 0:
        ms = 1e3 * total / a.steps
        print("torch_ddp %s world=%d layers=%d d_model=%d threads=%d batch_per_rank=%d "
              "ms_per_step=%.1f tokens_per_s=%.0f cpu_ms_per_step=%.1f"
              % (torch.__version__, a.world, a.layers, a.d_model, a.threads, a.batch, ms,
                 a.world * a.batch * a.seq_len / (ms / 1e3), 1e3 * cpu / a.steps), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--port", type=int, default=29577)
    a = ap.parse_args()
    mp.spawn(worker, args=(a,), nprocs=a.world, join=True)


if __name__ == "__main__":
    main()
