//! Forward values against hand-computed results, broadcasting, empty inputs and data errors.

mod common;
use common::backends;
use nrp_tensor::{
    BinaryOp, CounterRng, Csr, Graph, Reduce, Reduction, Segments, Tensor, TensorError, UnaryOp,
};

fn t(rows: &[&[f32]]) -> Tensor {
    Tensor::from_rows(rows).unwrap()
}

fn close(a: &Tensor, b: &Tensor, tol: f32) {
    assert_eq!(a.shape(), b.shape(), "{a:?} vs {b:?}");
    for (x, y) in a.data.iter().zip(&b.data) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?}\nvs\n{b:?}");
    }
}

#[test]
fn elementwise_values_and_broadcasting() {
    for cpu in backends() {
        let mut g = Graph::new(&cpu);
        let a = t(&[&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]]);
        let col = t(&[&[10.0], &[20.0]]);
        let row = t(&[&[1.0, 0.5, 0.25]]);
        let (a, col, row) = (g.constant(&a), g.constant(&col), g.constant(&row));
        let s = g.scalar(2.0);
        let v = g.add(a, col).unwrap();
        assert_eq!(g.value(v), &t(&[&[11.0, 12.0, 13.0], &[24.0, 25.0, 26.0]]));
        let v = g.mul(row, a).unwrap();
        assert_eq!(g.value(v), &t(&[&[1.0, 1.0, 0.75], &[4.0, 2.5, 1.5]]));
        let v = g.sub(s, a).unwrap();
        assert_eq!(g.value(v), &t(&[&[1.0, 0.0, -1.0], &[-2.0, -3.0, -4.0]]));
        let v = g.div(a, s).unwrap();
        assert_eq!(g.value(v), &t(&[&[0.5, 1.0, 1.5], &[2.0, 2.5, 3.0]]));
        let v = g.pow(a, s).unwrap();
        assert_eq!(g.value(v), &t(&[&[1.0, 4.0, 9.0], &[16.0, 25.0, 36.0]]));
        let v = g.eq(a, s).unwrap();
        assert_eq!(g.value(v), &t(&[&[0.0, 1.0, 0.0], &[0.0, 0.0, 0.0]]));
        // The other comparisons, broadcasting a scalar and a column.
        let c = g.constant_owned(t(&[&[2.0], &[5.0]]));
        for (op, want) in [
            (BinaryOp::Ne, [[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]]),
            (BinaryOp::Lt, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
            (BinaryOp::Le, [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]),
            (BinaryOp::Gt, [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
            (BinaryOp::Ge, [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]),
        ] {
            let v = g.binary(op, a, c).unwrap();
            assert_eq!(g.value(v), &t(&[&want[0], &want[1]]), "{op:?}");
            assert!(op.is_comparison());
        }
        // [n,1] with [1,d] broadcasts both ways.
        let v = g.mul(col, row).unwrap();
        assert_eq!(g.value(v), &t(&[&[10.0, 5.0, 2.5], &[20.0, 10.0, 5.0]]));
        let bad = g.constant_owned(Tensor::zeros(3, 2));
        assert!(matches!(g.add(a, bad), Err(TensorError::Shape { .. })));
    }
}

#[test]
fn unary_values() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let mut g = Graph::new(&cpu);
    let x = t(&[&[-1.0, 0.0, 2.0]]);
    let x = g.constant(&x);
    let cases: [(UnaryOp, [f32; 3]); 11] = [
        (UnaryOp::Relu, [0.0, 0.0, 2.0]),
        (UnaryOp::LeakyRelu(0.1), [-0.1, 0.0, 2.0]),
        (UnaryOp::Elu(1.0), [-0.632_120_56, 0.0, 2.0]),
        // x·Φ(x): Φ(-1) = 0.158655254, Φ(2) = 0.977249868
        (UnaryOp::Gelu, [-0.158_655_25, 0.0, 1.954_499_7]),
        (UnaryOp::Sigmoid, [0.268_941_43, 0.5, 0.880_797_1]),
        (UnaryOp::Tanh, [-0.761_594_2, 0.0, 0.964_027_6]),
        (UnaryOp::Abs, [1.0, 0.0, 2.0]),
        (UnaryOp::Neg, [1.0, -0.0, -2.0]),
        (UnaryOp::Exp, [0.367_879_44, 1.0, 7.389_056]),
        (UnaryOp::Sqrt, [f32::NAN, 0.0, std::f32::consts::SQRT_2]),
        (UnaryOp::Round, [-1.0, 0.0, 2.0]),
    ];
    for (op, want) in cases {
        let y = g.unary(op, x);
        for (got, want) in g.value(y).data.iter().zip(want) {
            assert!(
                (got.is_nan() && want.is_nan()) || (got - want).abs() <= 2e-7 * (1.0 + want.abs()),
                "{op:?}: {got} vs {want}"
            );
        }
    }
    // Round: ties to even, as torch.round.
    let halves = t(&[&[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -0.7]]);
    let halves = g.constant(&halves);
    let y = g.unary(UnaryOp::Round, halves);
    assert_eq!(
        g.value(y).data,
        vec![-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 2.0, -1.0]
    );
    // Sigmoid saturates without overflow.
    let big = t(&[&[-200.0, 200.0]]);
    let big = g.constant(&big);
    let y = g.sigmoid(big);
    assert_eq!(g.value(y).data, vec![0.0, 1.0]);
}

#[test]
fn matmul_and_linear_values() {
    for cpu in backends() {
        let mut g = Graph::new(&cpu);
        let x = t(&[&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0]]);
        let w = t(&[&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0]]); // [out=3, in=2]
        let b = t(&[&[0.5, -0.5, 0.0]]);
        let (x, w, b) = (g.constant(&x), g.constant(&w), g.constant(&b));
        let y = g.linear(x, w, Some(b)).unwrap();
        assert_eq!(
            g.value(y),
            &t(&[&[1.5, 1.5, 3.0], &[3.5, 3.5, 7.0], &[5.5, 5.5, 11.0]])
        );
        let y = g.matmul_t(x, true, x, false).unwrap(); // xᵀx
        assert_eq!(g.value(y), &t(&[&[35.0, 44.0], &[44.0, 56.0]]));
        let y = g.transpose(x);
        assert_eq!(g.value(y), &t(&[&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]]));
        assert!(g.linear(x, b, None).is_err());
    }
}

#[test]
fn large_matmul_matches_naive() {
    let mut rng = common::Rng::new(3);
    for cpu in backends() {
        for (m, k, n) in [(257, 129, 65), (1000, 70, 16), (16, 3000, 200)] {
            let a: Tensor = rng.tensor(m, k, -1.0, 1.0);
            let b: Tensor = rng.tensor(n, k, -1.0, 1.0);
            let mut g = Graph::new(&cpu);
            let (av, bv) = (g.constant(&a), g.constant(&b));
            let y = g.linear(av, bv, None).unwrap();
            let mut want = Tensor::zeros(m, n);
            for i in 0..m {
                for j in 0..n {
                    want.data[i * n + j] = (0..k)
                        .map(|p| a.get(i, p) as f64 * b.get(j, p) as f64)
                        .sum::<f64>() as f32;
                }
            }
            close(g.value(y), &want, 1e-4);
        }
    }
}

#[test]
fn split_reduction_is_bit_identical_across_thread_counts() {
    use nrp_tensor::Backend;
    let mut rng = common::Rng::new(8);
    // A weight gradient's shape: dYᵀ·X over 5,000 facts (the reduction is split in blocks).
    let (gy, x): (Tensor, Tensor) = (
        rng.tensor(5000, 64, -1.0, 1.0),
        rng.tensor(5000, 48, -1.0, 1.0),
    );
    let run = |threads: usize| {
        let mut out = Tensor::zeros(64, 48);
        nrp_tensor::Cpu::new(threads)
            .unwrap()
            .matmul(&gy, true, &x, false, &mut out, false);
        out.data.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

fn graph_csr() -> Csr {
    // Head rows: 0 <- {1, 2}, 1 <- {}, 2 <- {0, 0, 2}
    Csr::new(3, 3, vec![0, 2, 2, 5], vec![1, 2, 0, 0, 2]).unwrap()
}

#[test]
fn sparse_values_and_empty_rows() {
    let csr = graph_csr();
    for cpu in backends() {
        let mut g = Graph::new(&cpu);
        let x = t(&[&[1.0, -1.0], &[2.0, 5.0], &[3.0, 0.0]]);
        let w = Tensor::column(vec![0.5, 2.0, 1.0, -1.0, 10.0]);
        let (x, w) = (g.constant(&x), g.constant(&w));
        let y = g.spmm(&csr, x, Some(w)).unwrap();
        assert_eq!(g.value(y), &t(&[&[7.0, 2.5], &[0.0, 0.0], &[30.0, 0.0]]));
        let cases = [
            (Reduce::Sum, t(&[&[5.0, 5.0], &[0.0, 0.0], &[5.0, -2.0]])),
            (
                Reduce::Mean,
                t(&[&[2.5, 2.5], &[0.0, 0.0], &[5.0 / 3.0, -2.0 / 3.0]]),
            ),
            (Reduce::Max, t(&[&[3.0, 5.0], &[0.0, 0.0], &[3.0, 0.0]])),
            (Reduce::Min, t(&[&[2.0, 0.0], &[0.0, 0.0], &[1.0, -1.0]])),
        ];
        for (op, want) in cases {
            let y = g.gather_reduce(&csr, x, op).unwrap();
            close(g.value(y), &want, 1e-6);
        }
        let c = g.count(csr.segments());
        assert_eq!(g.value(c).data, vec![2.0, 0.0, 3.0]);
        let seg = Segments::new(vec![0, 2, 2, 3]).unwrap();
        let y = g.segment_reduce(&seg, x, Reduce::Max).unwrap();
        assert_eq!(g.value(y), &t(&[&[2.0, 5.0], &[0.0, 0.0], &[3.0, 0.0]]));
    }
}

#[test]
fn max_ties_route_gradient_to_first_match() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let csr = Csr::new(1, 2, vec![0, 3], vec![0, 1, 0]).unwrap();
    let x = t(&[&[1.0], &[1.0]]);
    let mut g = Graph::new(&cpu);
    let xv = g.input(&x, true);
    let y = g.gather_reduce(&csr, xv, Reduce::Max).unwrap();
    let l = g.sum_all(y);
    let grads = g.backward(l).unwrap();
    assert_eq!(grads.get(xv).unwrap().data, vec![1.0, 0.0]);
}

#[test]
fn empty_inputs() {
    for cpu in backends() {
        let mut g = Graph::<f32>::new(&cpu);
        // 0 head rows, 0 matches.
        let csr = Csr::new(0, 4, vec![0], vec![]).unwrap();
        let x = Tensor::zeros(4, 3);
        let xv = g.input(&x, true);
        for op in [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min] {
            let y = g.gather_reduce(&csr, xv, op).unwrap();
            assert_eq!(g.shape(y), (0, 3));
        }
        // Rows without matches: all reductions give 0.
        let csr2 = Csr::new(2, 4, vec![0, 0, 0], vec![]).unwrap();
        let y = g.gather_reduce(&csr2, xv, Reduce::Max).unwrap();
        assert_eq!(g.value(y), &Tensor::zeros(2, 3));
        // 0-row dense tensors through everything.
        let e = Tensor::zeros(0, 5);
        let ev = g.input(&e, true);
        let h = g.relu(ev);
        let s = g.softmax(h);
        let ln = g.layer_norm(s, None, None, 1e-5).unwrap();
        let tg = Tensor::zeros(0, 1);
        let tv = g.constant(&tg);
        let loss = g.cross_entropy(ln, tv, Reduction::Mean).unwrap();
        assert_eq!(g.value(loss).data, vec![0.0]);
        let m = g.mean_all(ev);
        assert_eq!(g.value(m).data, vec![0.0]);
        let total = g.add(loss, m).unwrap();
        let y0 = g.gather_reduce(&csr, xv, Reduce::Sum).unwrap();
        let s0 = g.sum_all(y0);
        let total = g.add(total, s0).unwrap();
        let grads = g.backward(total).unwrap();
        assert_eq!(grads.get(ev).unwrap().shape(), (0, 5));
        assert_eq!(grads.get(xv).unwrap(), &Tensor::zeros(4, 3));
    }
}

#[test]
fn softmax_layer_norm_concat_values() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let mut g = Graph::new(&cpu);
    let x = t(&[&[1.0, 2.0, 3.0], &[1000.0, 1000.0, 1000.0]]);
    let xv = g.constant(&x);
    let s = g.softmax(xv);
    let e = [1.0f32.exp(), 2.0f32.exp(), 3.0f32.exp()];
    let z: f32 = e.iter().sum();
    close(
        g.value(s),
        &t(&[&[e[0] / z, e[1] / z, e[2] / z], &[1.0 / 3.0; 3]]),
        1e-6,
    );
    let ls = g.log_softmax(xv);
    close(
        g.value(ls),
        &t(&[
            &[1.0 - z.ln() - 0.0, 2.0 - z.ln(), 3.0 - z.ln()],
            &[-(3.0f32.ln()); 3],
        ]),
        1e-6,
    );
    // Layer norm of [1,2,3]: mean 2, biased var 2/3.
    let w = t(&[&[1.0, 2.0, 0.5]]);
    let b = t(&[&[0.0, 1.0, 0.0]]);
    let (wv, bv) = (g.constant(&w), g.constant(&b));
    let ln = g.layer_norm(xv, Some(wv), Some(bv), 1e-5).unwrap();
    let r = 1.0 / (2.0f32 / 3.0 + 1e-5).sqrt();
    close(
        g.value(ln),
        &t(&[&[-r, 1.0, 0.5 * r], &[0.0, 1.0, 0.0]]),
        1e-6,
    );
    let c = g.concat(&[wv, bv, wv]).unwrap();
    assert_eq!(
        g.value(c),
        &t(&[&[1.0, 2.0, 0.5, 0.0, 1.0, 0.0, 1.0, 2.0, 0.5]])
    );
}

#[test]
fn one_hot_embedding_argmax_and_index_errors() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let mut g = Graph::new(&cpu);
    let idx = Tensor::column(vec![2.0, 0.0]);
    let iv = g.constant(&idx);
    let oh = g.one_hot(iv, 3).unwrap();
    assert_eq!(g.value(oh), &t(&[&[0.0, 0.0, 1.0], &[1.0, 0.0, 0.0]]));
    let w = t(&[&[1.0, 1.5], &[2.0, 2.5], &[3.0, 3.5]]);
    let wv = g.constant(&w);
    let e = g.embedding(wv, iv).unwrap();
    assert_eq!(g.value(e), &t(&[&[3.0, 3.5], &[1.0, 1.5]]));
    let m = t(&[&[1.0, 3.0, 3.0], &[-1.0, -2.0, -3.0]]);
    let mv = g.constant(&m);
    let a = g.argmax(mv);
    assert_eq!(g.value(a).data, vec![1.0, 0.0]);

    let bad = Tensor::column(vec![0.0, 1.5]);
    let bv = g.constant(&bad);
    assert_eq!(
        g.one_hot(bv, 3).unwrap_err(),
        TensorError::Index {
            op: "OneHot",
            row: 1,
            value: 1.5,
            limit: 3
        }
    );
    let bad = Tensor::column(vec![3.0]);
    let bv = g.constant(&bad);
    assert!(matches!(
        g.embedding(wv, bv),
        Err(TensorError::Index {
            row: 0,
            limit: 3,
            ..
        })
    ));
    let logits = t(&[&[0.0, 1.0]]);
    let lv = g.constant(&logits);
    let neg = Tensor::column(vec![-1.0]);
    let nv = g.constant(&neg);
    assert!(matches!(
        g.cross_entropy(lv, nv, Reduction::Mean),
        Err(TensorError::Index { .. })
    ));
    // Malformed sparse structures are errors, not panics.
    assert!(Csr::new(2, 3, vec![0, 2, 1], vec![0]).is_err());
    assert!(Csr::new(1, 3, vec![0, 1], vec![3]).is_err());
    assert!(Csr::from_coo(2, 2, &[0, 2], &[0, 0]).is_err());
}

#[test]
fn loss_values() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let mut g = Graph::new(&cpu);
    let logits = t(&[&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]]);
    let y = Tensor::column(vec![2.0, 0.0]);
    let (lv, yv) = (g.constant(&logits), g.constant(&y));
    let ce = g.cross_entropy(lv, yv, Reduction::None).unwrap();
    let z = (1.0f32.exp() + 2.0f32.exp() + 3.0f32.exp()).ln();
    close(
        g.value(ce),
        &Tensor::column(vec![z - 3.0, 3.0f32.ln()]),
        1e-6,
    );
    let ce = g.cross_entropy(lv, yv, Reduction::Mean).unwrap();
    close(
        g.value(ce),
        &Tensor::scalar((z - 3.0 + 3.0f32.ln()) / 2.0),
        1e-6,
    );

    let a = t(&[&[1.0, 2.0], &[3.0, 4.0]]);
    let b = t(&[&[0.0, 2.0], &[5.0, 3.0]]);
    let (av, bv) = (g.constant(&a), g.constant(&b));
    let mse = g.mse(av, bv, Reduction::Mean).unwrap();
    assert_eq!(g.value(mse).data, vec![(1.0 + 0.0 + 4.0 + 1.0) / 4.0]);
    let l1 = g.l1(av, bv, Reduction::Mean).unwrap();
    assert_eq!(g.value(l1).data, vec![(1.0 + 0.0 + 2.0 + 1.0) / 4.0]);
    // BCE with logits: stable at large |x|.
    let x = t(&[&[0.0, 100.0, -100.0]]);
    let yy = t(&[&[1.0, 0.0, 0.0]]);
    let (xv, yyv) = (g.constant(&x), g.constant(&yy));
    let bce = g.bce_with_logits(xv, yyv, Reduction::None).unwrap();
    close(g.value(bce), &t(&[&[2.0f32.ln(), 100.0, 0.0]]), 1e-6);

    // BCE on probabilities: each log clamped at -100 (p = 0 with y = 1, p = 1 with y = 0).
    let p = t(&[&[0.5, 0.25, 0.0, 1.0, 1.0]]);
    let yy = t(&[&[1.0, 0.0, 1.0, 0.0, 1.0]]);
    let (pv, yyv) = (g.constant(&p), g.constant(&yy));
    let bce = g.bce(pv, yyv, Reduction::None).unwrap();
    close(
        g.value(bce),
        &t(&[&[2.0f32.ln(), -(0.75f32.ln()), 100.0, 100.0, 0.0]]),
        1e-6,
    );
    let bce = g.bce(pv, yyv, Reduction::Mean).unwrap();
    let mean = (2.0f32.ln() - 0.75f32.ln() + 200.0) / 5.0;
    close(g.value(bce), &Tensor::scalar(mean), 1e-6);
    // A probability outside [0, 1] is refused, naming its row (NaN too).
    let bad_p: Vec<Tensor> = [1.5f32, -0.1, f32::NAN]
        .iter()
        .map(|&b| t(&[&[0.5], &[b]]))
        .collect();
    let y2 = Tensor::column(vec![1.0, 0.0]);
    for (bad, p) in [1.5f32, -0.1, f32::NAN].iter().zip(&bad_p) {
        let (pv, yv) = (g.constant(p), g.constant(&y2));
        match g.bce(pv, yv, Reduction::Mean) {
            Err(nrp_tensor::TensorError::Domain { row: 1, .. }) => {}
            other => panic!("{bad}: {other:?}"),
        }
    }

    // NLL: minus the target's entry, whatever the inputs are (-inf elsewhere is fine).
    let x = t(&[&[-1.0, f32::NEG_INFINITY, -0.5], &[-2.0, -0.25, -3.0]]);
    let y = Tensor::column(vec![2.0, 1.0]);
    let (xv, yv) = (g.constant(&x), g.constant(&y));
    let nll = g.nll(xv, yv, Reduction::None).unwrap();
    assert_eq!(g.value(nll).data, vec![0.5, 0.25]);
    let nll = g.nll(xv, yv, Reduction::Mean).unwrap();
    assert_eq!(g.value(nll).data, vec![0.375]);
    let bad = Tensor::column(vec![3.0, 0.0]);
    let bv = g.constant(&bad);
    assert!(matches!(
        g.nll(xv, bv, Reduction::Mean),
        Err(nrp_tensor::TensorError::Index { row: 0, .. })
    ));
}

#[test]
fn dropout_semantics() {
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let mut g = Graph::new(&cpu);
    let x = Tensor::full(1, 4, 2.0f32);
    let xv = g.constant(&x);
    let draws = [0.1f32, 0.6, 0.5, 0.9];
    let mut it = draws.iter().copied();
    let y = g.dropout(xv, 0.5, &mut || it.next().unwrap()).unwrap();
    assert_eq!(g.value(y).data, vec![0.0, 4.0, 4.0, 4.0]);
    g.set_training(false);
    let y = g.dropout(xv, 0.5, &mut || unreachable!()).unwrap();
    assert_eq!(y, xv);
    assert!(g.dropout(xv, 1.5, &mut || 0.0).is_err());
}

#[test]
fn coo_and_transpose() {
    let (csr, perm) = Csr::from_coo(3, 4, &[2, 0, 2, 1], &[3, 1, 0, 1]).unwrap();
    assert_eq!(csr.indptr(), &[0, 1, 2, 4]);
    assert_eq!(csr.indices(), &[1, 1, 3, 0]);
    assert_eq!(perm, vec![1, 3, 0, 2]);
    let tr = csr.transposed();
    assert_eq!(tr.segments().indptr(), &[0, 1, 3, 3, 4]);
    assert_eq!(tr.rows(), &[2, 0, 1, 2]);
    assert_eq!(tr.entries(), &[3, 0, 1, 2]);
}

#[test]
fn matmul_overwrites_garbage_and_accumulates() {
    use nrp_tensor::Backend;
    let mut rng = common::Rng::new(21);
    for cpu in backends() {
        for (m, k, n) in [
            (300, 40, 1),
            (1, 40, 300),
            (1, 1, 1),
            (513, 77, 33),
            (700, 80, 70),
            (40, 600, 900),
            // Long reductions over few rows (weight gradients): split over k.
            (64, 5000, 64),
            (7, 2708, 128),
        ] {
            let a: Tensor = rng.tensor(m, k, -1.0, 1.0);
            let b: Tensor = rng.tensor(k, n, -1.0, 1.0);
            let mut want = Tensor::zeros(m, n);
            for i in 0..m {
                for j in 0..n {
                    want.data[i * n + j] = (0..k)
                        .map(|p| a.get(i, p) as f64 * b.get(p, j) as f64)
                        .sum::<f64>() as f32;
                }
            }
            let mut out = Tensor::full(m, n, f32::NAN); // a recycled buffer: contents irrelevant
            cpu.matmul(&a, false, &b, false, &mut out, false);
            close(&out, &want, 1e-4);
            cpu.matmul(&a, false, &b, false, &mut out, true);
            close(&out, &want.map(|v| 2.0 * v), 1e-4);
            let (at, bt) = (a.transpose(), b.transpose());
            cpu.matmul(&at, true, &bt, true, &mut out, false);
            close(&out, &want, 1e-4);
        }
    }
}

#[test]
fn transpose_matches_naive_at_tile_edges() {
    let mut rng = common::Rng::new(9);
    for cpu in backends() {
        for (r, c) in [
            (8, 8),
            (19, 37),
            (128, 1433),
            (1433, 128),
            (3, 200),
            (200, 3),
        ] {
            let x: Tensor = rng.tensor(r, c, -1.0, 1.0);
            let mut g = Graph::new(&cpu);
            let v = g.constant(&x);
            let y = g.transpose(v);
            assert_eq!(g.value(y), &x.transpose(), "{r} x {c}");
        }
    }
}

/// A mean is the sum (in match-list order) divided by the count, bit for bit: scaling by
/// `1/count` rounds differently for most values.
#[test]
fn gathered_mean_divides_exactly() {
    let mut rng = common::Rng::new(11);
    let (n, m, d) = (50, 40, 24);
    let (mut rows, mut cols) = (vec![], vec![]);
    for h in 0..n as u32 {
        for _ in 0..(h % 7) {
            rows.push(h);
            cols.push((rng.uniform() * m as f64) as u32 % m as u32);
        }
    }
    let (csr, _) = Csr::from_coo(n, m, &rows, &cols).unwrap();
    let x: Tensor = rng.tensor(m, d, -1.0, 1.0);
    for cpu in backends() {
        let mut g = Graph::new(&cpu);
        let v = g.constant(&x);
        let y = g.gather_reduce(&csr, v, Reduce::Mean).unwrap();
        for h in 0..n {
            let k = csr.segments().range(h);
            for j in 0..d {
                let mut s = 0f32;
                for e in k.clone() {
                    s += x.data[csr.indices()[e] as usize * d + j];
                }
                let want = if k.is_empty() {
                    0.0
                } else {
                    s / k.len() as f32
                };
                assert_eq!(g.value(y).data[h * d + j].to_bits(), want.to_bits());
            }
        }
    }
}

/// `bias_act_dropout` gives the bits of add, ReLU and `dropout_fill` run one after the other
/// with the same stream, on every thread count, for rows shorter and longer than its draw
/// block (a column of 5000 values: sparse features' non-zeros), with and without a bias, and
/// moves the stream past the same draws.
#[test]
fn fused_bias_relu_dropout_matches_the_separate_ops() {
    let mut rng = common::Rng::new(12);
    for cpu in backends() {
        for (r, c) in [(300, 128), (5, 7), (3, 2500), (2000, 7), (5000, 1)] {
            let x: Tensor = rng.tensor(r, c, -1.0, 1.0);
            let b: Tensor = rng.tensor(1, c, -0.5, 0.5);
            for (relu, with_bias) in [(true, true), (false, true), (true, false), (false, false)] {
                let mut g = Graph::new(&cpu);
                let (xv, bv) = (g.constant(&x), g.constant(&b));
                let mut fused_rng = CounterRng::new(3);
                let _ = fused_rng.next_f32();
                let y = g
                    .bias_act_dropout(xv, with_bias.then_some(bv), relu, 0.3, &mut fused_rng)
                    .unwrap();
                let mut plain_rng = CounterRng::new(3);
                let _ = plain_rng.next_f32();
                let mut z = if with_bias {
                    g.add(xv, bv).unwrap()
                } else {
                    xv
                };
                if relu {
                    z = g.unary(UnaryOp::Relu, z);
                }
                let z = g
                    .dropout_fill(z, 0.3, &mut |buf: &mut [f32]| plain_rng.fill(buf))
                    .unwrap();
                assert_eq!(
                    g.value(y),
                    g.value(z),
                    "{r} x {c}, relu {relu}, bias {with_bias}"
                );
                assert_eq!(fused_rng.counter(), plain_rng.counter());
            }
        }
    }
}

/// A random `[n_rows, n_cols]` match list with empty rows and repeated columns in a row.
fn random_match_list(rng: &mut common::Rng, n_rows: usize, n_cols: usize, max_deg: usize) -> Csr {
    let mut indptr = vec![0];
    let mut indices = vec![];
    for i in 0..n_rows {
        let deg = if i % 4 == 1 {
            0
        } else {
            rng.below(max_deg + 1)
        };
        for j in 0..deg {
            let c = if j == 2 {
                indices[indices.len() - 1] // a column read twice by the row
            } else {
                rng.below(n_cols) as u32
            };
            indices.push(c);
        }
        indptr.push(indices.len());
    }
    Csr::new(n_rows, n_cols, indptr, indices).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.data.iter().map(|v| v.to_bits()).collect()
}

/// `sparse_linear(csr, v, w)` reads `w` (`[d, in]`) in place; it must give the very bits of
/// `spmm(csr, transpose(w), v)`, the route it replaces, forward and backward (wrt `w` and the
/// values), with values learnable, constant or absent, on 1–3 threads. The kernels are
/// compared on every shape; the graph op on shapes taking each of its routes (in place, a
/// transposed copy for the forward with the gradient in place, transposed copies for both).
#[test]
fn sparse_linear_matches_transpose_then_spmm() {
    use nrp_tensor::{Backend, Cpu, EntryValues};
    let mut rng = common::Rng::new(31);
    let mut routes = std::collections::BTreeSet::new();
    // (rows, in, max entries per row, d)
    for (n, n_in, deg, d) in [
        (12, 400, 3, 16),
        (12, 400, 3, 5),
        (30, 500, 4, 4),
        (8, 300, 3, 8),
        (10, 600, 2, 32),
        (6, 900, 3, 64),
        (60, 200, 3, 16),
        (60, 250, 2, 12),
        (60, 40, 5, 16),
        (50, 30, 6, 3),
        (3000, 700, 4, 16),
        (2000, 900, 3, 64),
    ] {
        let csr: &'static Csr = Box::leak(Box::new(random_match_list(&mut rng, n, n_in, deg)));
        let nnz = csr.nnz();
        routes.insert((nnz * 8 <= n_in, nnz < n_in));
        let w: Tensor = rng.tensor(d, n_in, -1.0, 1.0);
        let vals: &'static Tensor = Box::leak(Box::new(rng.tensor(nnz, 1, -1.0, 1.0)));
        let tv: &'static [f32] = Box::leak(csr.transpose_values(&vals.data).into_boxed_slice());
        let r: Tensor = rng.tensor(n, d, 0.5, 1.5);
        for threads in [1, 2, 3] {
            let cpu = Cpu::new(threads).unwrap();
            // The kernels themselves, on every shape.
            let mut wt = Tensor::zeros(n_in, d);
            cpu.transpose(&w, &mut wt);
            let (mut a, mut b) = (Tensor::zeros(n, d), Tensor::zeros(n, d));
            for v in [Some(&vals.data[..]), None] {
                cpu.spmm(csr, v, None, &wt, &mut a);
                cpu.sparse_linear(csr, v, &w, &mut b);
                assert_eq!(bits(&a), bits(&b), "forward [{n}x{n_in}]·[{d}x{n_in}]ᵀ");
            }
            let (mut dwt, mut dw_old) = (Tensor::zeros(n_in, d), Tensor::zeros(d, n_in));
            let mut dw = Tensor::full(d, n_in, f32::NAN); // overwritten, not accumulated
            for ev in [
                EntryValues::Transposed(tv),
                EntryValues::Csr(&vals.data),
                EntryValues::Ones,
            ] {
                cpu.spmm_t(csr, ev, None, &r, &mut dwt);
                cpu.transpose(&dwt, &mut dw_old);
                cpu.sparse_linear_dw(csr, ev, &r, &mut dw);
                assert_eq!(bits(&dw_old), bits(&dw), "dW [{n}x{n_in}]·[{d}x{n_in}]ᵀ");
            }
            let (mut dv_old, mut dv) = (vec![0f32; nnz], vec![f32::NAN; nnz]);
            cpu.spmm_dvals(csr, None, &wt, &r, &mut dv_old);
            cpu.sparse_linear_dvals(csr, &w, &r, &mut dv);
            assert_eq!(dv_old, dv, "dvals [{n}x{n_in}]·[{d}x{n_in}]ᵀ");

            // The graph op against the transpose and SpMM it replaces, through backward.
            #[derive(Clone, Copy)]
            enum V {
                Learnable,
                Constant,
                Ones,
            }
            for kind in [V::Learnable, V::Constant, V::Ones] {
                let run = |fused: bool| {
                    let mut g: Graph = Graph::new(&cpu);
                    let wv = g.input(&w, true);
                    let vv = g.input(vals, true);
                    let y = match (kind, fused) {
                        (V::Learnable, true) => g.sparse_linear(csr, Some(vv), wv),
                        (V::Constant, true) => g.sparse_linear_const(csr, vals, tv, wv),
                        (V::Ones, true) => g.sparse_linear(csr, None, wv),
                        (V::Learnable, false) => {
                            let wt = g.transpose(wv);
                            g.spmm(csr, wt, Some(vv))
                        }
                        (V::Constant, false) => {
                            let wt = g.transpose(wv);
                            g.spmm_const(csr, wt, vals, tv)
                        }
                        (V::Ones, false) => {
                            let wt = g.transpose(wv);
                            g.spmm(csr, wt, None)
                        }
                    }
                    .unwrap();
                    let rv = g.constant(&r);
                    let p = g.mul(y, rv).unwrap();
                    let l = g.sum_all(p);
                    let out = g.value(y).clone();
                    let grads = g.backward(l).unwrap();
                    let dw = grads.get(wv).unwrap().clone();
                    let dv = grads.get(vv).cloned();
                    (out, dw, dv)
                };
                let (y0, dw0, dv0) = run(false);
                let (y1, dw1, dv1) = run(true);
                let what =
                    format!("graph [{n}x{n_in}, {nnz} nnz]·[{d}x{n_in}]ᵀ, {threads} threads");
                assert_eq!(bits(&y0), bits(&y1), "{what}: forward");
                assert_eq!(bits(&dw0), bits(&dw1), "{what}: dW");
                assert_eq!(
                    dv0.map(|t| bits(&t)),
                    dv1.map(|t| bits(&t)),
                    "{what}: dvals"
                );
            }
        }
    }
    // Every route of the graph op was taken: (forward in place, dW in place).
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        vec![(false, false), (false, true), (true, true)]
    );
}

/// `spmm_t_add` (a scatter added to a gradient accumulator) gives the bits of `spmm_t`
/// into a fresh buffer followed by `add_assign`, on the blocked widths and the generic
/// loop, with every kind of entry values, on 1–3 threads; rows no entry reaches keep their
/// value. Through a graph, an input read by several gathers and sums gets the same gradient
/// whichever consumer's backward runs first (the second adds into the first's buffer).
#[test]
fn scatter_into_an_accumulator_matches_scatter_then_add() {
    use nrp_tensor::{Backend, EntryValues};
    let mut rng = common::Rng::new(11);
    for (n, n_in, deg, d) in [
        (40, 300, 3, 16),
        (40, 300, 3, 7),
        (25, 90, 4, 64),
        (9, 50, 2, 100),
    ] {
        let csr = random_match_list(&mut rng, n, n_in, deg);
        let vals: Tensor = rng.tensor(csr.nnz(), 1, -1.0, 1.0);
        let tv = csr.transpose_values(&vals.data);
        let dy: Tensor = rng.tensor(n, d, -1.0, 1.0);
        let base: Tensor = rng.tensor(n_in, d, -1.0, 1.0);
        for threads in [1, 2, 3] {
            let cpu = nrp_tensor::Cpu::new(threads).unwrap();
            for ev in [
                EntryValues::Transposed(&tv),
                EntryValues::Csr(&vals.data),
                EntryValues::Ones,
            ] {
                let mut fresh = Tensor::full(n_in, d, f32::NAN);
                cpu.spmm_t(&csr, ev, None, &dy, &mut fresh);
                let mut expected = base.clone();
                cpu.add_assign(&mut expected, &fresh);
                let mut got = base.clone();
                cpu.spmm_t_add(&csr, ev, None, &dy, &mut got);
                assert_eq!(
                    bits(&expected),
                    bits(&got),
                    "[{n}x{n_in}] d={d}, {threads} threads"
                );
            }
        }
    }

    // Through the graph: x feeds a gather, a sum and a mean; each ordering of the three
    // consumers gives the same gradient as the sum of their separate gradients.
    let cpu = nrp_tensor::Cpu::new(2).unwrap();
    let (n_in, d) = (200, 7);
    let x: Tensor = rng.tensor(n_in, d, -1.0, 1.0);
    let lists: Vec<Csr> = (0..3)
        .map(|_| random_match_list(&mut rng, 30, n_in, 3))
        .collect();
    let gather = Csr::from_index((0..n_in as u32).rev().step_by(3).collect(), n_in).unwrap();
    let grad_of = |which: &[usize]| {
        let mut g: Graph = Graph::new(&cpu);
        let xv = g.input(&x, true);
        let mut total = None;
        for &k in which {
            let y = match k {
                0 => g.gather(&gather, xv).unwrap(),
                1 => g.gather_reduce(&lists[1], xv, Reduce::Sum).unwrap(),
                _ => g.gather_reduce(&lists[2], xv, Reduce::Mean).unwrap(),
            };
            let s = g.sum_all(y);
            total = Some(match total {
                None => s,
                Some(t) => g.add(t, s).unwrap(),
            });
        }
        let grads = g.backward(total.unwrap()).unwrap();
        grads.get(xv).unwrap().clone()
    };
    let mut separate = Tensor::zeros(n_in, d);
    for k in 0..3 {
        cpu.add_assign(&mut separate, &grad_of(&[k]));
    }
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        close(&grad_of(&order), &separate, 1e-6);
    }
}
