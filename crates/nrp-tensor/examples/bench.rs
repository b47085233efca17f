//! Kernel and epoch timings (not a test). Run on a quiet machine:
//!
//! ```text
//! cargo run --release -p nrp-tensor --example bench            # everything, 1 and 2 threads
//! cargo run --release -p nrp-tensor --example bench -- gcn 2   # one section, 2 threads
//! ```
//! Sections: `gemm`, `spmm`, `sparse-linear`, `hgnn`, `gcn`. Every number is the median of repeated runs (ms).

use nrp_tensor::{
    Adam, Backend, BufferPool, CounterRng, Cpu, Csr, EntryValues, Graph, Optimizer, ParamSet,
    Reduction, Tensor,
};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn tensor(&mut self, r: usize, c: usize) -> Tensor {
        Tensor::new(r, c, (0..r * c).map(|_| self.uniform() - 0.5).collect())
    }
}

/// The bench clock in ms. Single-threaded runs use the calling thread's on-CPU time (Linux
/// `/proc/thread-self/schedstat`), which other processes on a shared machine cannot inflate;
/// multi-threaded runs use wall time.
static CPU_CLOCK: AtomicBool = AtomicBool::new(false);
static START: OnceLock<Instant> = OnceLock::new();

fn now() -> f64 {
    if CPU_CLOCK.load(Ordering::Relaxed) {
        thread_cpu_ns().unwrap() as f64 / 1e6
    } else {
        START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median over `reps` batches; each batch repeats `f` until 40 ms have passed on the clock
/// (the on-CPU clock advances in 4 ms ticks) and reports the mean per call.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps.min(7))
        .map(|_| {
            let t = now();
            let mut calls = 0;
            loop {
                f();
                calls += 1;
                let e = now() - t;
                if e >= 40.0 {
                    break e / calls as f64;
                }
            }
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn gemm(cpu: &Cpu) {
    let mut rng = Rng(1);
    for (m, k, n) in [
        (2708, 1433, 16),
        (2708, 16, 7),
        (2708, 128, 7),
        (5257, 64, 64),
        (19717, 500, 16),
        (100000, 64, 64),
        (11616, 3066, 64),
    ] {
        let x = rng.tensor(m, k);
        let w = rng.tensor(n, k);
        let dy = rng.tensor(m, n);
        let mut y = Tensor::zeros(m, n);
        let mut dx = Tensor::zeros(m, k);
        let mut dw = Tensor::zeros(n, k);
        let reps = if m * n * k > 50_000_000 { 9 } else { 31 };
        let f = median_ms(reps, || cpu.matmul(&x, false, &w, true, &mut y, false));
        let b = median_ms(reps, || cpu.matmul(&dy, false, &w, false, &mut dx, false));
        let c = median_ms(reps, || cpu.matmul(&dy, true, &x, false, &mut dw, false));
        println!(
            "gemm  t={} [{m}x{k}]·[{n}x{k}]ᵀ  fwd {f:7.3}  dX {b:7.3}  dW {c:7.3} ms  ({:.0} GFLOP/s fwd)",
            cpu.threads(),
            2.0 * (m * n * k) as f64 / f / 1e6
        );
    }
}

/// A random graph with self loops and symmetric GCN normalisation `1/sqrt(d_i d_j)`.
fn graph(rng: &mut Rng, n: usize, undirected_edges: usize) -> (Csr, Tensor) {
    let mut rows = Vec::with_capacity(2 * undirected_edges + n);
    let mut cols = Vec::with_capacity(2 * undirected_edges + n);
    for _ in 0..undirected_edges {
        let (a, b) = (rng.below(n) as u32, rng.below(n) as u32);
        rows.extend([a, b]);
        cols.extend([b, a]);
    }
    for i in 0..n as u32 {
        rows.push(i);
        cols.push(i);
    }
    let (csr, _) = Csr::from_coo(n, n, &rows, &cols).unwrap();
    let deg = csr.segments().counts();
    let mut w = Vec::with_capacity(csr.nnz());
    for i in 0..n {
        for &j in &csr.indices()[csr.indptr()[i]..csr.indptr()[i + 1]] {
            w.push(1.0 / ((deg[i] * deg[j as usize]) as f32).sqrt());
        }
    }
    (csr, Tensor::column(w))
}

fn spmm(cpu: &Cpu) {
    let mut rng = Rng(2);
    for (n, e, d) in [
        (2708, 5278, 16),
        (2708, 24_000, 128),
        (100_000, 1_000_000, 64),
    ] {
        let (csr, w) = graph(&mut rng, n, e);
        let x = rng.tensor(n, d);
        let mut out = Tensor::zeros(n, d);
        let _ = csr.transposed();
        let reps = if n > 10_000 { 21 } else { 201 };
        let f = median_ms(reps, || cpu.spmm(&csr, Some(&w.data), None, &x, &mut out));
        let t = median_ms(reps, || {
            cpu.spmm_t(&csr, EntryValues::Csr(&w.data), None, &x, &mut out)
        });
        let mut dv = vec![0f32; csr.nnz()];
        let dvt = median_ms(reps, || cpu.spmm_dvals(&csr, None, &x, &x, &mut dv));
        let mut arg = vec![0u32; n * d];
        let mx = median_ms(reps, || {
            cpu.segment_extreme(
                csr.segments(),
                Some(csr.indices()),
                true,
                &x,
                &mut out,
                &mut arg,
            )
        });
        let idx: Vec<u32> = csr.indices().to_vec();
        let mut gathered = Tensor::zeros(csr.nnz(), d);
        let gt = median_ms(reps, || cpu.gather_rows(&idx, &x, &mut gathered));
        let ss = median_ms(reps, || {
            cpu.segment_sum(csr.segments(), None, &gathered, &mut out)
        });
        println!(
            "spmm  t={} n={n} nnz={} d={d}: spmm {f:.3}  spmmᵀ {t:.3}  dvals {dvt:.3}  gather-max {mx:.3}  \
             | unfused: gather {gt:.3} + segment-sum {ss:.3} ms",
            cpu.threads(),
            csr.nnz()
        );
    }
}

/// `nn.Linear` on sparse rows (`S · Wᵀ`, `W` `[d, in]`): transposing `W` and SpMM-ing over
/// it (and `Sᵀ·dY` then transposing back for the gradient) against `sparse_linear`, which reads
/// `W` in place and writes the gradient in `W`'s layout; plus one Adam step over `W`, which
/// a dense gradient of `W`'s shape costs anyway. Shapes: R-GCN on AIFB (one-hot ids, one
/// entry per row), Cora's and IMDB's bag-of-words features.
fn sparse_linear(cpu: &Cpu) {
    let mut rng = Rng(7);
    for (rows, n_in, nnz, d) in [
        (10, 8285, 10, 16),
        (100, 8285, 100, 16),
        (500, 8285, 500, 16),
        (1000, 8285, 1000, 16),
        (2000, 8285, 2000, 16),
        (4000, 8285, 4000, 16),
        (8285, 8285, 8285, 16),
        (8285, 8285, 33140, 16),
        (1000, 8285, 1000, 64),
        (4000, 8285, 4000, 64),
        (8285, 8285, 8285, 64),
        (8285, 8285, 33140, 64),
        (2708, 1433, 49216, 16),
        (5257, 3066, 81752, 64),
    ] {
        let (r, c): (Vec<u32>, Vec<u32>) = (0..nnz)
            .map(|k| ((k * rows / nnz) as u32, rng.below(n_in) as u32))
            .unzip();
        let (csr, _) = Csr::from_coo(rows, n_in, &r, &c).unwrap();
        let vals: Vec<f32> = (0..nnz).map(|_| rng.uniform()).collect();
        let tv = csr.transpose_values(&vals);
        let w = rng.tensor(d, n_in);
        let dy = rng.tensor(rows, d);
        let (mut wt, mut dwt) = (Tensor::zeros(n_in, d), Tensor::zeros(n_in, d));
        let (mut out, mut dw) = (Tensor::zeros(rows, d), Tensor::zeros(d, n_in));
        let mut dv = vec![0f32; nnz];
        let reps = 31;
        let old_f = median_ms(reps, || {
            cpu.transpose(&w, &mut wt);
            cpu.spmm(&csr, Some(&vals), None, &wt, &mut out)
        });
        let new_f = median_ms(reps, || cpu.sparse_linear(&csr, Some(&vals), &w, &mut out));
        let old_b = median_ms(reps, || {
            cpu.spmm_t(&csr, EntryValues::Transposed(&tv), None, &dy, &mut dwt);
            cpu.transpose(&dwt, &mut dw)
        });
        let new_b = median_ms(reps, || {
            cpu.sparse_linear_dw(&csr, EntryValues::Transposed(&tv), &dy, &mut dw)
        });
        let old_v = median_ms(reps, || cpu.spmm_dvals(&csr, None, &wt, &dy, &mut dv));
        let new_v = median_ms(reps, || cpu.sparse_linear_dvals(&csr, &w, &dy, &mut dv));
        // One Adam step (weight decay on) over W with the gradient just computed.
        let mut params = ParamSet::new();
        let id = params.add("W", w.clone());
        let mut opt = Adam::new(0.01, 5e-4);
        let adam = {
            let mut g: Graph = Graph::new(cpu);
            let wv = g.param(&params, id);
            let y = g.sparse_linear(&csr, None, wv).unwrap();
            let l = g.sum_all(y);
            let grads = g.backward(l).unwrap();
            drop(g);
            median_ms(reps, || opt.step(&mut params, &grads))
        };
        println!(
            "sparse-linear t={} [{rows}x{n_in}, {nnz} nnz]·[{d}x{n_in}]ᵀ  fwd {old_f:.4} -> {new_f:.4}  \
             dW {old_b:.4} -> {new_b:.4}  dvals (given Wᵀ) {old_v:.4} -> {new_v:.4}  (transposed route -> in place)  \
             | Adam step {adam:.4} ms",
            cpu.threads(),
        );
    }
}

/// HGNN's first layer on Cora's features: the sparse feature product by `Wᵀ` (49k non-zeros
/// of 2708 × 1433, hidden 128), its transpose for the weight gradient, and the weight
/// transposes around them.
fn hgnn(cpu: &Cpu) {
    let mut rng = Rng(3);
    let (n, f, h) = (2708, 1433, 128);
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for i in 0..n as u32 {
        for _ in 0..18 {
            rows.push(i);
            cols.push(rng.below(f) as u32);
        }
    }
    let (x, _) = Csr::from_coo(n, f, &rows, &cols).unwrap();
    let _ = x.transposed();
    let vals: Vec<f32> = (0..x.nnz()).map(|_| rng.uniform()).collect();
    let w = rng.tensor(h, f);
    let mut wt = Tensor::zeros(f, h);
    let mut out = Tensor::zeros(n, h);
    let dy = rng.tensor(n, h);
    let tr = median_ms(101, || cpu.transpose(&w, &mut wt));
    let w2t = wt.clone();
    let fw = median_ms(101, || cpu.spmm(&x, Some(&vals), None, &wt, &mut out));
    let bw = median_ms(101, || {
        cpu.spmm_t(&x, EntryValues::Csr(&vals), None, &dy, &mut wt)
    });
    let bwn = median_ms(101, || {
        cpu.spmm_t(&x, EntryValues::Ones, None, &dy, &mut wt)
    });
    let fwn = median_ms(101, || cpu.spmm(&x, None, None, &w2t, &mut out));
    println!("   (no values: X·Wᵀ {fwn:.3}  Xᵀ·dY {bwn:.3})");
    let mut w2 = Tensor::zeros(h, f);
    let trb = median_ms(101, || cpu.transpose(&wt, &mut w2));
    println!(
        "hgnn  t={} nnz={}: Wᵀ {tr:.3}  X·Wᵀ {fw:.3}  Xᵀ·dY {bw:.3}  dWᵀᵀ {trb:.3} ms",
        cpu.threads(),
        x.nnz()
    );
}

struct Gcn {
    x: Tensor,
    /// The same features as a CSR (row = node, column = feature) with values `[nnz, 1]`.
    x_sparse: (Csr, Tensor),
    adj: Csr,
    norm: Tensor,
    train: Csr,
    y_train: Tensor,
}

fn gcn_data(rng: &mut Rng, n: usize, e: usize, f: usize, classes: usize, density: f32) -> Gcn {
    let (adj, norm) = graph(rng, n, e);
    let mut x = Tensor::zeros(n, f);
    for i in 0..n {
        let row = x.row_mut(i);
        let mut s = 0.0;
        for v in row.iter_mut() {
            if rng.uniform() < density {
                *v = 1.0;
                s += 1.0;
            }
        }
        if s > 0.0 {
            row.iter_mut().for_each(|v| *v /= s);
        }
    }
    let (mut indptr, mut cols, mut vals) = (vec![0], vec![], vec![]);
    for i in 0..n {
        for (j, &v) in x.row(i).iter().enumerate() {
            if v != 0.0 {
                cols.push(j as u32);
                vals.push(v);
            }
        }
        indptr.push(cols.len());
    }
    let x_sparse = (Csr::new(n, f, indptr, cols).unwrap(), Tensor::column(vals));
    let n_train = (n / 20).max(1);
    let train: Vec<u32> = (0..n_train as u32).collect();
    let y_train = Tensor::column((0..n_train).map(|_| rng.below(classes) as f32).collect());
    Gcn {
        x,
        x_sparse,
        adj,
        norm,
        train: Csr::from_index(train, n).unwrap(),
        y_train,
    }
}

/// PyG's examples/gcn.py step: dropout → GCNConv → ReLU → dropout → GCNConv → CE on the
/// train rows → backward → Adam (decay on layer 1 only).
/// With `sparse`, layer 1 reads the features as a CSR: dropout on the stored values only and
/// `X·W1ᵀ` as an SpMM with `W1ᵀ` (what the planner can do for `sum([value] * OneHot(..))`).
fn gcn(cpu: &Cpu, name: &str, d: &Gcn, hidden: usize, classes: usize, epochs: usize, sparse: bool) {
    let f = d.x.cols;
    let mut rng = Rng(3);
    let mut ps = ParamSet::new();
    let w1 = ps.add("conv1.lin.weight", rng.tensor(hidden, f));
    let b1 = ps.add("conv1.bias", Tensor::zeros(1, hidden));
    let w2 = ps.add("conv2.lin.weight", rng.tensor(classes, hidden));
    let b2 = ps.add("conv2.bias", Tensor::zeros(1, classes));
    ps.set_weight_decay(w2, Some(0.0));
    ps.set_weight_decay(b2, Some(0.0));
    let mut opt = Adam::new(0.01, 5e-4);
    let mut pool = BufferPool::new();
    let _ = d.adj.transposed();
    let _ = d.train.transposed();
    let mut rng = CounterRng::new(4);
    let mut marks = vec![];
    let mut first_wall = 0.0;
    let mut loss_v = 0.0;
    cpu.install(|| {
        marks.push(now());
        for epoch in 0..epochs {
            let wall = Instant::now();
            let mut g = Graph::with_pool(cpu, std::mem::take(&mut pool));
            let mut fill = |buf: &mut [f32]| rng.fill(buf);
            let x = g.constant(&d.x);
            let norm = g.constant(&d.norm);
            let y = g.constant(&d.y_train);
            let [w1, b1, w2, b2] = [w1, b1, w2, b2].map(|id| g.param(&ps, id));
            let h = if sparse {
                let vals = g.constant(&d.x_sparse.1);
                let vals = g.dropout_fill(vals, 0.5, &mut fill).unwrap();
                let w1t = g.transpose(w1);
                g.spmm(&d.x_sparse.0, w1t, Some(vals)).unwrap()
            } else {
                let h = g.dropout_fill(x, 0.5, &mut fill).unwrap();
                g.linear(h, w1, None).unwrap()
            };
            let h = g.spmm(&d.adj, h, Some(norm)).unwrap();
            let h = g.add(h, b1).unwrap();
            let h = g.relu(h);
            let h = g.dropout_fill(h, 0.5, &mut fill).unwrap();
            let h = g.linear(h, w2, None).unwrap();
            let h = g.spmm(&d.adj, h, Some(norm)).unwrap();
            let h = g.add(h, b2).unwrap();
            let h = g.gather(&d.train, h).unwrap();
            let loss = g.cross_entropy(h, y, Reduction::Mean).unwrap();
            loss_v = g.value(loss).data[0];
            let grads = g.backward(loss).unwrap();
            pool = g.into_pool();
            opt.step(&mut ps, &grads);
            pool.recycle(grads);
            marks.push(now());
            if epoch == 0 {
                first_wall = wall.elapsed().as_secs_f64() * 1e3;
            }
        }
    });
    // Eval-mode forward (no dropout, no backward).
    let ev = median_ms(21, || {
        let mut g = Graph::with_pool(cpu, std::mem::take(&mut pool));
        g.set_training(false);
        let x = g.constant(&d.x);
        let norm = g.constant(&d.norm);
        let [w1, b1, w2, b2] = [w1, b1, w2, b2].map(|id| g.param(&ps, id));
        let h = if sparse {
            let vals = g.constant(&d.x_sparse.1);
            let w1t = g.transpose(w1);
            g.spmm(&d.x_sparse.0, w1t, Some(vals)).unwrap()
        } else {
            g.linear(x, w1, None).unwrap()
        };
        let h = g.spmm(&d.adj, h, Some(norm)).unwrap();
        let h = g.add(h, b1).unwrap();
        let h = g.relu(h);
        let h = g.linear(h, w2, None).unwrap();
        let h = g.spmm(&d.adj, h, Some(norm)).unwrap();
        let h = g.add(h, b2).unwrap();
        let _ = g.argmax(h);
        pool = g.into_pool();
    });
    let first = first_wall;
    let mean = (marks[epochs] - marks[1]) / (epochs - 1) as f64;
    let (bufs, cap) = pool.stats();
    println!(
        "gcn   t={} {name}: train step {mean:.3} ms (mean of epochs 2..{epochs}; first {first:.3} wall), \
         eval forward {ev:.3} ms, final loss {loss_v:.4}, pool {bufs} buffers / {:.1} MB",
        cpu.threads(),
        cap as f64 / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let section = args.first().cloned().unwrap_or_else(|| "all".into());
    let threads: Vec<usize> = match args.get(1) {
        Some(t) => vec![t.parse().expect("threads")],
        None => vec![1, 2],
    };
    let mut rng = Rng(5);
    let want = |s: &str| section == "all" || section == "gcn" || section == s;
    let cora = want("cora").then(|| gcn_data(&mut rng, 2708, 5278, 1433, 7, 0.0127));
    let big = want("big").then(|| gcn_data(&mut rng, 100_000, 1_000_000, 64, 10, 0.5));
    for &t in &threads {
        let cpu = Cpu::new(t).unwrap();
        let cpu_clock = t == 1 && thread_cpu_ns().is_some();
        CPU_CLOCK.store(cpu_clock, Ordering::Relaxed);
        println!(
            "-- {t} thread(s), {} time",
            if cpu_clock { "on-CPU" } else { "wall" }
        );
        if section == "all" || section == "gemm" {
            gemm(&cpu);
        }
        if section == "all" || section == "spmm" {
            spmm(&cpu);
        }
        if section == "all" || section == "sparse-linear" {
            sparse_linear(&cpu);
        }
        if section == "all" || section == "hgnn" {
            hgnn(&cpu);
        }
        if let Some(cora) = &cora {
            let name = "cora-size, dense X (2708 x 1433, 13k nnz, hidden 16)";
            if std::env::var_os("NRP_BENCH_SKIP_DENSE").is_none() {
                gcn(&cpu, name, cora, 16, 7, 200, false);
            }
            gcn(
                &cpu,
                "cora-size, sparse X (49k feature values)",
                cora,
                16,
                7,
                200,
                true,
            );
        }
        if let Some(big) = &big {
            let name = "100k nodes, 2.1M nnz, 64 features, hidden 64";
            gcn(&cpu, name, big, 64, 10, 30, false);
        }
    }
}
