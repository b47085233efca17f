//! Finite-difference gradient checks (f64, central differences) for every differentiable op,
//! on one and two threads. Inputs are large enough in places to take the parallel paths.

mod common;
use common::{Rng, gradcheck, gradcheck_tol};
use nrp_tensor::{BinaryOp, CounterRng, Csr, Reduce, Reduction, Segments, Tensor, UnaryOp};

fn all_unary() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![
        Neg,
        Exp,
        Log,
        Sqrt,
        Abs,
        Relu,
        LeakyRelu(0.1),
        Elu(1.0),
        Elu(0.7),
        Gelu,
        Sigmoid,
        Tanh,
    ]
}

#[test]
fn unary_ops() {
    let mut rng = Rng::new(1);
    for op in all_unary() {
        let x = match op {
            UnaryOp::Log | UnaryOp::Sqrt => rng.tensor(7, 5, 0.2, 3.0),
            _ => rng.tensor_away0(7, 5, -3.0, 3.0, 1e-3),
        };
        gradcheck(vec![x], &[true], &|g, v| Ok(g.unary(op, v[0])));
    }
}

#[test]
fn unary_large_parallel() {
    let mut rng = Rng::new(2);
    let x = rng.tensor_away0(300, 130, -3.0, 3.0, 1e-3);
    for op in [UnaryOp::Gelu, UnaryOp::Tanh, UnaryOp::Relu] {
        gradcheck(vec![x.clone()], &[true], &|g, v| Ok(g.unary(op, v[0])));
    }
}

fn shapes() -> Vec<((usize, usize), (usize, usize))> {
    vec![
        ((6, 4), (6, 4)),
        ((6, 4), (6, 1)),
        ((6, 1), (6, 4)),
        ((6, 4), (1, 4)),
        ((1, 4), (6, 4)),
        ((6, 4), (1, 1)),
        ((1, 1), (6, 4)),
        ((6, 1), (1, 4)),
        ((300, 120), (300, 1)),
        ((300, 120), (1, 120)),
    ]
}

#[test]
fn binary_ops_with_broadcasting() {
    let mut rng = Rng::new(3);
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
    ] {
        for (sa, sb) in shapes() {
            let (a, b) = match op {
                BinaryOp::Div => (
                    rng.tensor(sa.0, sa.1, -2.0, 2.0),
                    rng.tensor(sb.0, sb.1, 0.5, 2.0),
                ),
                BinaryOp::Pow => (
                    rng.tensor(sa.0, sa.1, 0.3, 2.0),
                    rng.tensor(sb.0, sb.1, -1.5, 2.5),
                ),
                _ => (
                    rng.tensor(sa.0, sa.1, -2.0, 2.0),
                    rng.tensor(sb.0, sb.1, -2.0, 2.0),
                ),
            };
            gradcheck(vec![a, b], &[true, true], &|g, v| g.binary(op, v[0], v[1]));
        }
    }
}

#[test]
fn binary_one_side_constant() {
    let mut rng = Rng::new(4);
    let a = rng.tensor(5, 3, -1.0, 1.0);
    let b = rng.tensor(5, 1, 0.5, 1.0);
    gradcheck(vec![a.clone(), b.clone()], &[true, false], &|g, v| {
        g.mul(v[0], v[1])
    });
    gradcheck(vec![a, b], &[false, true], &|g, v| g.div(v[0], v[1]));
}

#[test]
fn matmul_all_transposes() {
    let mut rng = Rng::new(5);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        for (m, k, n) in [(5, 3, 4), (20, 120, 130)] {
            let a = if ta {
                rng.tensor(k, m, -1.0, 1.0)
            } else {
                rng.tensor(m, k, -1.0, 1.0)
            };
            let b = if tb {
                rng.tensor(n, k, -1.0, 1.0)
            } else {
                rng.tensor(k, n, -1.0, 1.0)
            };
            gradcheck(vec![a, b], &[true, true], &|g, v| {
                g.matmul_t(v[0], ta, v[1], tb)
            });
        }
    }
}

#[test]
fn linear_and_transpose() {
    let mut rng = Rng::new(6);
    for (n, i, o) in [(7, 5, 3), (700, 10, 50)] {
        let x = rng.tensor(n, i, -1.0, 1.0);
        let w = rng.tensor(o, i, -1.0, 1.0);
        let b = rng.tensor(1, o, -1.0, 1.0);
        gradcheck(
            vec![x.clone(), w.clone(), b],
            &[true, true, true],
            &|g, v| g.linear(v[0], v[1], Some(v[2])),
        );
        gradcheck(vec![x, w], &[true, true], &|g, v| {
            g.linear(v[0], v[1], None)
        });
    }
    let x = rng.tensor(9, 4, -1.0, 1.0);
    gradcheck(vec![x], &[true], &|g, v| Ok(g.transpose(v[0])));
}

/// A random match list: `n_rows` head rows (some empty), reading `n_cols` rows.
fn random_csr(rng: &mut Rng, n_rows: usize, n_cols: usize, max_deg: usize) -> Csr {
    let mut indptr = vec![0];
    let mut indices = vec![];
    for i in 0..n_rows {
        let deg = if i % 5 == 3 {
            0
        } else {
            rng.below(max_deg + 1)
        };
        for _ in 0..deg {
            indices.push(rng.below(n_cols) as u32);
        }
        indptr.push(indices.len());
    }
    Csr::new(n_rows, n_cols, indptr, indices).unwrap()
}

#[test]
fn spmm_wrt_features_and_values() {
    let mut rng = Rng::new(7);
    for (nr, nc, deg, d) in [(9, 6, 4, 3), (600, 500, 12, 16)] {
        let csr: &'static Csr = Box::leak(Box::new(random_csr(&mut rng, nr, nc, deg)));
        let x = rng.tensor(nc, d, -1.0, 1.0);
        let w = rng.tensor(csr.nnz(), 1, -1.0, 1.0);
        gradcheck(vec![x.clone(), w], &[true, true], &|g, v| {
            g.spmm(csr, v[0], Some(v[1]))
        });
        gradcheck(vec![x.clone()], &[true], &|g, v| g.spmm(csr, v[0], None));
        // Constant values, read backward in the transpose's order.
        let vals: &'static Tensor<f64> = Box::leak(Box::new(rng.tensor(csr.nnz(), 1, -1.0, 1.0)));
        let tv: &'static [f64] = Box::leak(csr.transpose_values(&vals.data).into_boxed_slice());
        gradcheck(vec![x], &[true], &|g, v| g.spmm_const(csr, v[0], vals, tv));
    }
}

/// `nn.Linear` on sparse rows, `w` read in place: wrt the weight and learnable values, with
/// constant values and without values, on shapes that take each route of the op (in place;
/// a transposed copy forward with the weight gradient in place; transposed copies for both)
/// and the register widths 4/8/16/32/64 besides generic ones.
#[test]
fn sparse_linear_wrt_weight_and_values() {
    let mut rng = Rng::new(23);
    let mut routes = std::collections::BTreeSet::new();
    for (nr, n_in, deg, d) in [
        (8, 200, 3, 3),
        (8, 200, 3, 16),
        (6, 300, 3, 4),
        (6, 300, 2, 8),
        (6, 400, 2, 32),
        (5, 500, 2, 64),
        (40, 150, 3, 16),
        (40, 150, 3, 5),
        (9, 6, 4, 3),
        (300, 100, 6, 16),
    ] {
        // Half of the entries read columns of `w` that the check perturbs (it samples 40
        // elements evenly), so that the columns it checks have gradients.
        let step = (d * n_in / 40).max(1);
        let checked: Vec<u32> = (0..d * n_in)
            .step_by(step)
            .map(|k| (k % n_in) as u32)
            .collect();
        let mut csr = random_csr(&mut rng, nr, n_in, deg);
        let indices: Vec<u32> = csr
            .indices()
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                if k % 2 == 0 {
                    checked[rng.below(checked.len())]
                } else {
                    c
                }
            })
            .collect();
        csr = Csr::new(nr, n_in, csr.indptr().to_vec(), indices).unwrap();
        let csr: &'static Csr = Box::leak(Box::new(csr));
        routes.insert((csr.nnz() * 8 <= n_in, csr.nnz() < n_in));
        let w = rng.tensor(d, n_in, -1.0, 1.0);
        let v = rng.tensor(csr.nnz(), 1, -1.0, 1.0);
        gradcheck(vec![w.clone(), v], &[true, true], &|g, v| {
            g.sparse_linear(csr, Some(v[1]), v[0])
        });
        gradcheck(vec![w.clone()], &[true], &|g, v| {
            g.sparse_linear(csr, None, v[0])
        });
        let vals: &'static Tensor<f64> = Box::leak(Box::new(rng.tensor(csr.nnz(), 1, -1.0, 1.0)));
        let tv: &'static [f64] = Box::leak(csr.transpose_values(&vals.data).into_boxed_slice());
        gradcheck(vec![w], &[true], &|g, v| {
            g.sparse_linear_const(csr, vals, tv, v[0])
        });
    }
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        vec![(false, false), (false, true), (true, true)]
    );
}

#[test]
fn to_dense_wrt_values() {
    let mut rng = Rng::new(17);
    // Repeated columns in a row accumulate; the gradient reads each entry's position.
    for (nr, nc, deg) in [(9, 6, 4), (50, 40, 8)] {
        let csr: &'static Csr = Box::leak(Box::new(random_csr(&mut rng, nr, nc, deg)));
        let w = rng.tensor(csr.nnz(), 1, -1.0, 1.0);
        let x = rng.tensor(nc, 3, -1.0, 1.0);
        // Multiply by a dense matrix so that every output position has its own weight.
        gradcheck(vec![w, x], &[true, false], &|g, v| {
            let d = g.to_dense(csr, v[0])?;
            g.matmul(d, v[1])
        });
    }
}

#[test]
fn gather_reduce_all_ops() {
    let mut rng = Rng::new(8);
    for (nr, nc, deg, d) in [(9, 6, 4, 3), (700, 400, 10, 12)] {
        let csr: &'static Csr = Box::leak(Box::new(random_csr(&mut rng, nr, nc, deg)));
        // Distinct values: no ties, so max/min are differentiable.
        let x = rng.tensor(nc, d, -1.0, 1.0);
        for op in [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min] {
            gradcheck(vec![x.clone()], &[true], &|g, v| {
                g.gather_reduce(csr, v[0], op)
            });
        }
    }
}

#[test]
fn segment_reduce_dense_all_ops() {
    let mut rng = Rng::new(9);
    for (nr, deg, d) in [(8, 4, 3), (900, 9, 10)] {
        let seg: &'static Segments = Box::leak(Box::new(
            Segments::from_counts((0..nr).map(|i| if i % 4 == 1 { 0 } else { rng.below(deg + 1) }))
                .unwrap(),
        ));
        let x = rng.tensor(seg.nnz(), d, -1.0, 1.0);
        for op in [Reduce::Sum, Reduce::Mean, Reduce::Max, Reduce::Min] {
            gradcheck(vec![x.clone()], &[true], &|g, v| {
                g.segment_reduce(seg, v[0], op)
            });
        }
    }
}

#[test]
fn gather_and_embedding() {
    let mut rng = Rng::new(10);
    let idx: Vec<u32> = (0..50).map(|_| rng.below(12) as u32).collect();
    let index: &'static Csr = Box::leak(Box::new(Csr::from_index(idx.clone(), 12).unwrap()));
    let x = rng.tensor(12, 5, -1.0, 1.0);
    gradcheck(vec![x.clone()], &[true], &|g, v| g.gather(index, v[0]));
    let ids = Tensor::column(idx.iter().map(|&i| i as f64).collect());
    gradcheck(vec![x, ids], &[true, false], &|g, v| {
        g.embedding(v[0], v[1])
    });
}

#[test]
fn softmax_log_softmax() {
    let mut rng = Rng::new(11);
    for (r, c) in [(6, 5), (300, 70)] {
        let x = rng.tensor(r, c, -3.0, 3.0);
        gradcheck(vec![x.clone()], &[true], &|g, v| Ok(g.softmax(v[0])));
        gradcheck(vec![x], &[true], &|g, v| Ok(g.log_softmax(v[0])));
    }
}

#[test]
fn layer_norm_all_inputs() {
    let mut rng = Rng::new(12);
    for (r, d) in [(5, 6), (400, 64)] {
        let x = rng.tensor(r, d, -2.0, 2.0);
        let w = rng.tensor(1, d, 0.5, 1.5);
        let b = rng.tensor(1, d, -0.5, 0.5);
        gradcheck(vec![x.clone(), w, b], &[true, true, true], &|g, v| {
            g.layer_norm(v[0], Some(v[1]), Some(v[2]), 1e-5)
        });
        gradcheck(vec![x], &[true], &|g, v| {
            g.layer_norm(v[0], None, None, 1e-5)
        });
    }
}

#[test]
fn concat_columns() {
    let mut rng = Rng::new(13);
    let a = rng.tensor(6, 2, -1.0, 1.0);
    let b = rng.tensor(6, 1, -1.0, 1.0);
    let c = rng.tensor(6, 4, -1.0, 1.0);
    gradcheck(vec![a, b, c], &[true, false, true], &|g, v| {
        g.concat(&[v[0], v[1], v[2], v[0]])
    });
}

#[test]
fn stack_rows() {
    let mut rng = Rng::new(15);
    let a = rng.tensor(3, 4, -1.0, 1.0);
    let b = rng.tensor(1, 4, -1.0, 1.0);
    let c = rng.tensor(5, 4, -1.0, 1.0);
    gradcheck(vec![a, b, c], &[true, false, true], &|g, v| {
        g.stack_rows(&[v[0], v[1], v[2], v[0]])
    });
}

#[test]
fn dropout_backward_uses_the_mask() {
    let mut rng = Rng::new(14);
    let x = rng.tensor(20, 7, -1.0, 1.0);
    gradcheck(vec![x], &[true], &|g, v| {
        let mut r = Rng::new(5);
        g.dropout(v[0], 0.4, &mut || r.uniform() as f32)
    });
}

#[test]
fn reductions() {
    let mut rng = Rng::new(15);
    let x = rng.tensor(9, 4, -1.0, 1.0);
    gradcheck(vec![x.clone()], &[true], &|g, v| Ok(g.sum_all(v[0])));
    gradcheck(vec![x.clone()], &[true], &|g, v| Ok(g.mean_all(v[0])));
    gradcheck(vec![x.clone()], &[true], &|g, v| Ok(g.row_sum(v[0], false)));
    gradcheck(vec![x], &[true], &|g, v| Ok(g.row_sum(v[0], true)));
}

#[test]
fn losses() {
    let mut rng = Rng::new(16);
    for n in [7, 500] {
        let logits = rng.tensor(n, 5, -3.0, 3.0);
        let t = Tensor::column((0..n).map(|_| rng.below(5) as f64).collect());
        for red in [Reduction::Mean, Reduction::None] {
            gradcheck(vec![logits.clone(), t.clone()], &[true, false], &|g, v| {
                g.cross_entropy(v[0], v[1], red)
            });
        }
        let a = rng.tensor(n, 3, -2.0, 2.0);
        let b = rng.tensor(n, 3, -2.0, 2.0);
        let y = rng.tensor(n, 3, 0.0, 1.0);
        for red in [Reduction::Mean, Reduction::None] {
            gradcheck(vec![a.clone(), b.clone()], &[true, true], &|g, v| {
                g.mse(v[0], v[1], red)
            });
            gradcheck(vec![a.clone(), b.clone()], &[true, true], &|g, v| {
                g.l1(v[0], v[1], red)
            });
            gradcheck(vec![a.clone(), y.clone()], &[true, true], &|g, v| {
                g.bce_with_logits(v[0], v[1], red)
            });
            // Probabilities away from 0 and 1, where neither log is clamped.
            let p = rng.tensor(n, 3, 0.05, 0.95);
            gradcheck(vec![p, y.clone()], &[true, true], &|g, v| {
                g.bce(v[0], v[1], red)
            });
            gradcheck(vec![logits.clone(), t.clone()], &[true, false], &|g, v| {
                g.nll(v[0], v[1], red)
            });
        }
    }
}

#[test]
fn round_has_a_zero_gradient() {
    // Away from the half-integers, where round jumps: the difference quotient is 0 too.
    let mut rng = Rng::new(17);
    let x = Tensor::new(
        6,
        4,
        (0..24)
            .map(|_| rng.below(9) as f64 - 4.0 + rng.tensor::<f64>(1, 1, -0.4, 0.4).data[0])
            .collect(),
    );
    gradcheck(vec![x], &[true], &|g, v| Ok(g.unary(UnaryOp::Round, v[0])));
}

#[test]
fn composite_gcn_layer() {
    // relu(A_hat · (X Wᵀ + b)) → log_softmax → cross-entropy, with a parameter used twice.
    let mut rng = Rng::new(17);
    let csr: &'static Csr = Box::leak(Box::new(random_csr(&mut rng, 40, 40, 5)));
    let norm = rng.tensor(csr.nnz(), 1, 0.1, 1.0);
    let x = rng.tensor(40, 8, -1.0, 1.0);
    let w = rng.tensor(6, 8, -1.0, 1.0);
    let b = rng.tensor(1, 6, -0.1, 0.1);
    let t = Tensor::column((0..40).map(|_| rng.below(6) as f64).collect());
    gradcheck_tol(
        vec![x, w, b, norm, t],
        &[false, true, true, false, false],
        1e-5,
        &|g, v| {
            let h = g.linear(v[0], v[1], Some(v[2]))?;
            let h = g.spmm(csr, h, Some(v[3]))?;
            let h = g.tanh(h);
            let h2 = g.add(h, v[2])?; // bias reused: gradients accumulate
            let p = g.log_softmax(h2);
            g.cross_entropy(p, v[4], Reduction::Mean)
        },
    );
}

#[test]
fn specialised_widths() {
    // The CSR kernels have register-resident paths for widths 8/16/32/64, column blocks of
    // 64 or 32 for wider rows (128, 96) and a generic loop otherwise (48).
    let mut rng = Rng::new(18);
    for d in [8, 16, 32, 64, 96, 128, 48] {
        let csr: &'static Csr = Box::leak(Box::new(random_csr(&mut rng, 12, 9, 5)));
        let x = rng.tensor(9, d, -1.0, 1.0);
        let w = rng.tensor(csr.nnz(), 1, -1.0, 1.0);
        gradcheck(vec![x.clone(), w], &[true, true], &|g, v| {
            g.spmm(csr, v[0], Some(v[1]))
        });
        for op in [Reduce::Mean, Reduce::Max, Reduce::Min] {
            gradcheck(vec![x.clone()], &[true], &|g, v| {
                g.gather_reduce(csr, v[0], op)
            });
        }
    }
}

/// The fused bias + ReLU + dropout against finite differences, the mask drawn afresh (the same
/// draws) in every evaluation; x + b stays away from ReLU's kink.
#[test]
fn bias_act_dropout_backward() {
    let mut rng = Rng::new(21);
    let x = rng.tensor_away0(30, 7, -1.0, 1.0, 0.1);
    let b = rng.tensor(1, 7, -0.05, 0.05);
    for relu in [true, false] {
        for p in [0.0, 0.4] {
            gradcheck(vec![x.clone(), b.clone()], &[true, true], &|g, v| {
                let mut r = CounterRng::new(5);
                g.bias_act_dropout(v[0], Some(v[1]), relu, p, &mut r)
            });
            gradcheck(vec![x.clone()], &[true], &|g, v| {
                let mut r = CounterRng::new(6);
                g.bias_act_dropout(v[0], None, relu, p, &mut r)
            });
        }
    }
}

/// Attention's head operations: per-head weights on values, per-head dot products (small and
/// large enough for the parallel path).
#[test]
fn head_scale_and_head_dot() {
    let mut rng = Rng::new(31);
    for (n, heads, k) in [(5, 2, 3), (400, 8, 8)] {
        let x = rng.tensor(n, heads * k, -1.0, 1.0);
        let y = rng.tensor(n, heads * k, -1.0, 1.0);
        let a = rng.tensor(n, heads, -1.0, 1.0);
        gradcheck(vec![x.clone(), a], &[true, true], &|g, v| {
            g.head_scale(v[0], v[1])
        });
        gradcheck(vec![x, y], &[true, true], &|g, v| {
            g.head_dot(v[0], v[1], heads)
        });
    }
}

/// Shaped embeddings: a per-fact matrix product (every operand shape `@` admits: vector ·
/// column, matrix · column, row · matrix, matrix · matrix) and column maps (a per-fact
/// transpose; a broadcast that reads a coordinate several times, so that its gradient sums;
/// a map that skips coordinates, whose gradient is zero). Sizes up to the parallel path.
#[test]
fn row_matmul_and_col_gather() {
    let mut rng = Rng::new(37);
    for n in [5, 700] {
        for (batch, m, k, p) in [
            (1, 1, 4, 1),
            (1, 3, 4, 1),
            (1, 1, 4, 3),
            (1, 2, 3, 4),
            (3, 2, 3, 2),
        ] {
            let a = rng.tensor(n, batch * m * k, -1.0, 1.0);
            let b = rng.tensor(n, batch * k * p, -1.0, 1.0);
            gradcheck(vec![a, b], &[true, true], &|g, v| {
                g.row_matmul(v[0], v[1], (batch, m, k, p))
            });
        }
        let x = rng.tensor(n, 6, -1.0, 1.0);
        let transpose: Vec<u32> = (0..6).map(|j| (j % 2) * 3 + j / 2).collect();
        let broadcast: Vec<u32> = (0..12).map(|j| j / 2).collect();
        let skip: Vec<u32> = vec![5, 0, 0, 2];
        for map in [transpose, broadcast, skip] {
            let map: std::sync::Arc<[u32]> = map.into();
            gradcheck(vec![x.clone()], &[true], &|g, v| {
                g.col_gather(v[0], map.clone())
            });
        }
    }
}
