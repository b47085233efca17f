//! Bit-identical results across runs and across thread counts, for a GCN-like epoch that
//! exercises every parallel path (GEMM splits, CSR chunks, block reductions).

mod common;
use common::Rng;
use nrp_tensor::{
    Adam, BufferPool, Cpu, Csr, Graph, Optimizer, ParamSet, Reduce, Reduction, Tensor,
};

struct Data {
    x: Tensor,
    adj: Csr,
    norm: Tensor,
    y: Tensor,
}

fn data() -> Data {
    let mut rng = Rng::new(42);
    let n = 3000;
    let x = rng.tensor(n, 300, -1.0, 1.0);
    let mut rows = vec![];
    let mut cols = vec![];
    for i in 0..n {
        // Skewed degrees: a few hubs.
        let deg = if i % 97 == 0 { 400 } else { 1 + rng.below(12) };
        for _ in 0..deg {
            rows.push(i as u32);
            cols.push(rng.below(n) as u32);
        }
    }
    let (adj, _) = Csr::from_coo(n, n, &rows, &cols).unwrap();
    let norm = rng.tensor(adj.nnz(), 1, 0.0, 0.5);
    let y = Tensor::column((0..n).map(|_| rng.below(7) as f32).collect());
    Data { x, adj, norm, y }
}

fn params() -> ParamSet {
    let mut rng = Rng::new(7);
    let mut p = ParamSet::new();
    p.add("l1.weight", rng.tensor(64, 300, -0.1, 0.1));
    p.add("l1.bias", rng.tensor(1, 64, -0.1, 0.1));
    p.add("ln.weight", rng.tensor(1, 64, 0.9, 1.1));
    p.add("ln.bias", rng.tensor(1, 64, -0.1, 0.1));
    p.add("l2.weight", rng.tensor(7, 128, -0.1, 0.1));
    p
}

/// Three epochs of training; returns every loss and the final parameters, as bits.
fn run(cpu: &Cpu, d: &Data) -> Vec<u32> {
    let mut ps = params();
    let ids: Vec<_> = ps.iter().map(|(id, _)| id).collect();
    let mut opt = Adam::new(0.01, 5e-4);
    let mut pool = BufferPool::new();
    let mut bits = vec![];
    for epoch in 0..3 {
        let mut g = Graph::with_pool(cpu, pool);
        let x = g.constant(&d.x);
        let norm = g.constant(&d.norm);
        let y = g.constant(&d.y);
        let [w1, b1, lw, lb, w2] =
            [ids[0], ids[1], ids[2], ids[3], ids[4]].map(|id| g.param(&ps, id));
        let h = g.linear(x, w1, Some(b1)).unwrap();
        let mut rng = Rng::new(epoch);
        let h = g.dropout(h, 0.5, &mut || rng.uniform() as f32).unwrap();
        let h = g.spmm(&d.adj, h, Some(norm)).unwrap();
        let h = g.layer_norm(h, Some(lw), Some(lb), 1e-5).unwrap();
        let h = g.gelu(h);
        let m = g.gather_reduce(&d.adj, h, Reduce::Max).unwrap();
        let a = g.gather_reduce(&d.adj, h, Reduce::Mean).unwrap();
        let h = g.concat(&[m, a]).unwrap();
        let o = g.linear(h, w2, None).unwrap();
        let o = g.log_softmax(o);
        let loss = g.cross_entropy(o, y, Reduction::Mean).unwrap();
        bits.push(g.value(loss).data[0].to_bits());
        let grads = g.backward(loss).unwrap();
        pool = g.into_pool();
        opt.step(&mut ps, &grads);
        pool.recycle(grads);
    }
    for (_, p) in ps.iter() {
        bits.extend(p.value.data.iter().map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn bit_identical_across_runs_and_thread_counts() {
    let d = data();
    let one = run(&Cpu::new(1).unwrap(), &d);
    assert_eq!(one, run(&Cpu::new(1).unwrap(), &d), "1 thread, two runs");
    for threads in [2, 3] {
        let cpu = Cpu::new(threads).unwrap();
        let a = run(&cpu, &d);
        assert_eq!(a, run(&cpu, &d), "{threads} threads, two runs");
        let diff = a.iter().zip(&one).filter(|(x, y)| x != y).count();
        assert_eq!(
            diff, 0,
            "{threads} threads vs 1 thread: {diff} values differ"
        );
    }
}

#[test]
fn warm_epochs_allocate_nothing() {
    // Train + eval passes alternate; after the first round every buffer comes from the pool.
    let d = data();
    let cpu = Cpu::new(2).unwrap();
    let mut ps = params();
    let ids: Vec<_> = ps.iter().map(|(id, _)| id).collect();
    let mut opt = Adam::new(0.01, 0.0);
    let mut pool = BufferPool::new();
    let mut fresh = vec![];
    for epoch in 0..4 {
        for training in [true, false] {
            let mut g = Graph::with_pool(&cpu, pool);
            g.set_training(training);
            let x = g.constant(&d.x);
            let y = g.constant(&d.y);
            let [w1, b1, _, _, w2] =
                [ids[0], ids[1], ids[2], ids[3], ids[4]].map(|id| g.param(&ps, id));
            let h = g.linear(x, w1, Some(b1)).unwrap();
            let mut rng = Rng::new(epoch);
            let h = g.dropout(h, 0.5, &mut || rng.uniform() as f32).unwrap();
            let h = g.gather_reduce(&d.adj, h, Reduce::Mean).unwrap();
            let h2 = g.gather_reduce(&d.adj, h, Reduce::Max).unwrap();
            let h = g.concat(&[h, h2]).unwrap();
            let o = g.linear(h, w2, None).unwrap();
            let loss = g.cross_entropy(o, y, Reduction::Mean).unwrap();
            if training {
                let grads = g.backward(loss).unwrap();
                pool = g.into_pool();
                opt.step(&mut ps, &grads);
                pool.recycle(grads);
            } else {
                let _ = g.argmax(o);
                pool = g.into_pool();
            }
        }
        fresh.push(pool.fresh_allocations());
    }
    assert_eq!(
        fresh[1], fresh[3],
        "allocations per round after warm-up: {fresh:?}"
    );
    assert_eq!(
        fresh[2], fresh[3],
        "allocations per round after warm-up: {fresh:?}"
    );
}
