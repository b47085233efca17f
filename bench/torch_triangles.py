#!/usr/bin/env python3
"""Peer side of the dhn-triangles case: one triangle homomorphism layer (DHN's rooted C3)
in plain PyTorch, the triangles enumerated with tensor operations; the nrp side is
bench/programs/dhn-triangles.nrp (same model, same data: bench/gen_synthetic.py triangles).

  C3[a] = sum over (a, b, c) with edges a->b, b->c, c->a of Mu(x_a) * Mu(x_b) * Mu(x_c)
  Out   = Linear(32, 4)(ReLU(C3)),  cross-entropy on the train nodes,
  Adam lr 0.01 (no weight decay), 100 epochs, eval every epoch, test accuracy at the
  first epoch with the best validation accuracy.
Only nodes on at least one triangle have a C3 fact in nrp (a head tuple exists iff it has
a match), so loss and accuracies here are taken over those nodes as well.

Triangle enumeration (once, before training; timed as enumerate_seconds and included in
load_seconds, as nrp's grounding is in its load_seconds): the edge list sorted by
(src, dst) is a CSR; every edge a->b is expanded to the 2-paths a->b->c with
repeat_interleave over b's out-degree, and a 2-path closes when the key c*N + a is found
by searchsorted among the sorted edge keys. Each epoch then computes h = Mu(x) once,
gathers h[a], h[b], h[c] per triangle match, multiplies, and index_add_'s into a.
"""
import argparse
import os
import time

_t_process = time.perf_counter()

import numpy as np  # noqa: E402

from _bench import (SYNTHETIC, add_common_args, emit, log, median_ms, peak_rss_mb,  # noqa: E402
                    quiet_warnings, read_int_table, read_nodes, read_wide_features,
                    set_threads, versions)

quiet_warnings()
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

_t_imported = time.perf_counter()
_rss_imported = peak_rss_mb()


def triangles(edge_index: torch.Tensor, n: int):
    """All (a, b, c) with a->b, b->c, c->a in edge_index (any order, no duplicates)."""
    src, dst = edge_index
    key = src * n + dst
    order = torch.argsort(key)
    src, dst, key = src[order], dst[order], key[order]
    deg = torch.bincount(src, minlength=n)
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(deg, 0)
    cnt = deg[dst]                                   # 2-paths through each edge a->b
    e = torch.repeat_interleave(torch.arange(len(src)), cnt)
    first = torch.cumsum(cnt, 0) - cnt
    off = torch.arange(len(e)) - first[e]
    c = dst[rowptr[dst[e]] + off]
    a, b = src[e], dst[e]
    k = c * n + a
    pos = torch.searchsorted(key, k).clamp_(max=len(key) - 1)
    hit = key[pos] == k
    return a[hit], b[hit], c[hit]


class C3Net(torch.nn.Module):
    def __init__(self, i, h, o):
        super().__init__()
        self.mu = torch.nn.Linear(i, h)
        self.out = torch.nn.Linear(h, o)

    def forward(self, x, a, b, c):
        h = self.mu(x)
        m = h[a] * h[b] * h[c]
        z = torch.zeros(x.size(0), h.size(1), dtype=h.dtype).index_add_(0, a, m)
        return self.out(F.relu(z))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p, default_epochs=100)
    p.add_argument("--db", default=os.path.join(SYNTHETIC, "triangles"))
    p.add_argument("--hidden", type=int, default=32)
    args = p.parse_args()
    verbose = not args.json
    threads = set_threads(args.threads)

    t0 = time.perf_counter()
    y, split = read_nodes(os.path.join(args.db, "node.csv"))
    n = len(y)
    edge_index = torch.from_numpy(read_int_table(os.path.join(args.db, "edge.csv"), 2).T.copy())
    x = torch.from_numpy(read_wide_features(os.path.join(args.db, "feature.csv"), n))
    y = torch.from_numpy(y)
    t1 = time.perf_counter()
    a, b, c = triangles(edge_index, n)
    enumerate_seconds = time.perf_counter() - t1
    load_seconds = time.perf_counter() - t0
    on_triangle = torch.zeros(n, dtype=torch.bool)
    on_triangle[a] = True
    train, val, test = (torch.from_numpy(split == s) & on_triangle for s in ("train", "val", "test"))
    num_classes = int(y.max()) + 1

    torch.manual_seed(args.seed)
    model = C3Net(x.size(1), args.hidden, num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def step():
        model.train()
        optimizer.zero_grad()
        out = model(x, a, b, c)
        loss = F.cross_entropy(out[train], y[train])
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def evaluate():
        model.eval()
        pred = model(x, a, b, c).argmax(dim=-1)
        return [float((pred[m] == y[m]).float().mean()) for m in (val, test)]

    best_val = test_acc = 0.0
    best_epoch = 0
    steps, epochs = [], []
    t_loop = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        ts = time.perf_counter()
        loss = step()
        tm = time.perf_counter()
        val_acc, tmp_test = evaluate()
        te = time.perf_counter()
        steps.append(tm - ts)
        epochs.append(te - ts)
        if val_acc > best_val:
            best_val, test_acc, best_epoch = val_acc, tmp_test, epoch
        log(f"epoch {epoch:03d} loss {loss:.4f} val {val_acc:.4f} step {1e3 * (tm - ts):.1f} ms",
            verbose and (epoch % 10 == 0 or epoch == 1))
    total = time.perf_counter() - t_loop

    emit({
        "case": "dhn-triangles", "epochs": args.epochs, "threads": threads, "seed": args.seed,
        "num_nodes": n, "num_edges": int(edge_index.size(1)), "triangle_matches": int(len(a)),
        "nodes_on_triangles": int(on_triangle.sum()),
        "import_seconds": round(_t_imported - _t_process, 4),
        "load_seconds": round(load_seconds, 4),
        "enumerate_seconds": round(enumerate_seconds, 4),
        "total_train_seconds": round(total, 4),
        "ms_per_epoch": round(median_ms(steps), 4),
        "ms_per_epoch_incl_eval": round(median_ms(epochs), 4),
        "best_epoch": best_epoch, "val_acc": round(best_val, 4), "test_acc": round(test_acc, 4),
        "final_loss": round(loss, 6),
        "peak_rss_mb": round(peak_rss_mb(), 1), "rss_after_import_mb": round(_rss_imported, 1),
        **versions(),
    }, args.json)


if __name__ == "__main__":
    main()
