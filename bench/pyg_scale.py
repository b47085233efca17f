#!/usr/bin/env python3
"""Peer side of the gcn-scale case: 2-layer GCN (hidden 64) in PyTorch Geometric on the
synthetic graph of bench/gen_synthetic.py (100,000 nodes, 2,000,000 edge rows, 64-dim
dense features, 10 classes); the nrp side is bench/programs/gcn-scale.nrp.

The model and loop are PyG's examples/gcn.py (as ../shared/bench/pyg_gcn.py) with hidden 64
and raw (not normalised) dense features:
  dropout(0.5) -> GCNConv(64, 64) -> ReLU -> dropout(0.5) -> GCNConv(64, 10)
  Adam lr 0.01, weight decay 5e-4 on conv1 only; cross-entropy on the train nodes;
  full batch; 20 epochs; an eval-mode forward after every epoch; test accuracy at the
  first epoch with the best validation accuracy.
GCNConv(cached=False) (PyG's default; --cached caches the normalised adjacency).
Timing fields as ../shared/bench/pyg_gcn.py: load_seconds = reading the CSVs and building
the tensors; ms_per_epoch = median training step; peak_rss_mb = ru_maxrss at the end.
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
from torch_geometric.nn import GCNConv  # noqa: E402

_t_imported = time.perf_counter()
_rss_imported = peak_rss_mb()


class GCN(torch.nn.Module):
    def __init__(self, i, h, o, cached=False):
        super().__init__()
        self.conv1 = GCNConv(i, h, cached=cached)
        self.conv2 = GCNConv(h, o, cached=cached)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p, default_epochs=20)
    p.add_argument("--db", default=os.path.join(SYNTHETIC, "scale"))
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--cached", action="store_true")
    args = p.parse_args()
    verbose = not args.json
    threads = set_threads(args.threads)

    t0 = time.perf_counter()
    y, split = read_nodes(os.path.join(args.db, "node.csv"))
    n = len(y)
    edge_index = torch.from_numpy(read_int_table(os.path.join(args.db, "edge.csv"), 2).T.copy())
    x = torch.from_numpy(read_wide_features(os.path.join(args.db, "feature.csv"), n))
    y = torch.from_numpy(y)
    train, val, test = (torch.from_numpy(split == s) for s in ("train", "val", "test"))
    load_seconds = time.perf_counter() - t0
    num_classes = int(y.max()) + 1

    torch.manual_seed(args.seed)
    model = GCN(x.size(1), args.hidden, num_classes, cached=args.cached)
    optimizer = torch.optim.Adam([
        dict(params=model.conv1.parameters(), weight_decay=5e-4),
        dict(params=model.conv2.parameters(), weight_decay=0.0),
    ], lr=0.01)

    def step():
        model.train()
        optimizer.zero_grad()
        out = model(x, edge_index)
        loss = F.cross_entropy(out[train], y[train])
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def evaluate():
        model.eval()
        pred = model(x, edge_index).argmax(dim=-1)
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
        "case": "gcn-scale", "epochs": args.epochs, "threads": threads, "seed": args.seed,
        "cached": args.cached, "num_nodes": n, "num_edges": int(edge_index.size(1)),
        "import_seconds": round(_t_imported - _t_process, 4),
        "load_seconds": round(load_seconds, 4),
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
