//! Optimiser updates against hand-computed PyTorch updates.

use nrp_tensor::{Adam, Cpu, Grads, Graph, Optimizer, ParamId, ParamSet, Sgd, Tensor};

/// Gradients equal to `c` for parameter `id` (loss = Σ p ⊙ c).
fn grads_of(cpu: &Cpu, ps: &ParamSet, wrt: &[(ParamId, Tensor)]) -> Grads {
    let mut g = Graph::new(cpu);
    let mut total = None;
    for (id, c) in wrt {
        let p = g.param(ps, *id);
        let c = g.constant_owned(c.clone());
        let m = g.mul(p, c).unwrap();
        let s = g.sum_all(m);
        total = Some(match total {
            None => s,
            Some(t) => g.add(t, s).unwrap(),
        });
    }
    g.backward(total.unwrap()).unwrap()
}

/// torch.optim.Adam / AdamW for one scalar, in f64 (the textbook update).
struct RefAdam {
    m: f64,
    v: f64,
    t: i32,
}

impl RefAdam {
    fn step(&mut self, p: f64, g: f64, lr: f64, wd: f64, decoupled: bool) -> f64 {
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        self.t += 1;
        let mut p = p;
        let mut g = g;
        if decoupled {
            p *= 1.0 - lr * wd;
        } else {
            g += wd * p;
        }
        self.m = b1 * self.m + (1.0 - b1) * g;
        self.v = b2 * self.v + (1.0 - b2) * g * g;
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        p - lr / bc1 * self.m / ((self.v).sqrt() / bc2.sqrt() + eps)
    }
}

#[test]
fn adam_constant_gradient_moves_lr_per_step() {
    // With a constant gradient m̂/√v̂ = sign(g): each step moves exactly lr (up to eps).
    let cpu = Cpu::new(1).unwrap();
    let mut ps = ParamSet::new();
    let id = ps.add("w", Tensor::new(1, 2, vec![1.0, -2.0]));
    let mut opt = Adam::new(0.1, 0.0);
    for step in 1..=5 {
        let g = grads_of(&cpu, &ps, &[(id, Tensor::new(1, 2, vec![0.5, -3.0]))]);
        opt.step(&mut ps, &g);
        let want = [1.0 - 0.1 * step as f32, -2.0 + 0.1 * step as f32];
        for (got, want) in ps.value(id).data.iter().zip(want) {
            assert!((got - want).abs() < 2e-6, "step {step}: {got} vs {want}");
        }
    }
}

#[test]
fn adam_and_adamw_match_reference_with_weight_decay() {
    let cpu = Cpu::new(1).unwrap();
    for decoupled in [false, true] {
        let mut ps = ParamSet::new();
        let init = vec![0.3f32, -1.2, 2.0, 0.0];
        let a = ps.add("a", Tensor::new(2, 2, init.clone()));
        let b = ps.add("b", Tensor::new(1, 1, vec![0.7]));
        ps.set_weight_decay(b, Some(0.0)); // per-parameter override (PyG: decay on layer 1 only)
        let (lr, wd) = (0.01, 5e-2);
        let mut opt = if decoupled {
            Adam::adamw(lr, wd)
        } else {
            Adam::new(lr, wd)
        };
        let mut refs: Vec<RefAdam> = (0..5)
            .map(|_| RefAdam {
                m: 0.0,
                v: 0.0,
                t: 0,
            })
            .collect();
        let mut want: Vec<f64> = init.iter().map(|&x| x as f64).chain([0.7]).collect();
        for step in 0..6 {
            let ga: Vec<f32> = (0..4)
                .map(|k| ((k * 7 + step * 3) % 5) as f32 * 0.3 - 0.6)
                .collect();
            let gb = 0.25 * (step as f32 - 2.0);
            let g = grads_of(
                &cpu,
                &ps,
                &[(a, Tensor::new(2, 2, ga.clone())), (b, Tensor::scalar(gb))],
            );
            opt.step(&mut ps, &g);
            for k in 0..4 {
                want[k] = refs[k].step(want[k], ga[k] as f64, lr, wd, decoupled);
            }
            want[4] = refs[4].step(want[4], gb as f64, lr, 0.0, decoupled);
            let got: Vec<f32> = ps
                .value(a)
                .data
                .iter()
                .chain(&ps.value(b).data)
                .copied()
                .collect();
            for (k, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - w).abs() < 1e-6,
                    "decoupled={decoupled} step {step} elem {k}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn adam_skips_parameters_without_gradient() {
    let cpu = Cpu::new(1).unwrap();
    let mut ps = ParamSet::new();
    let a = ps.add("a", Tensor::scalar(1.0));
    let b = ps.add("b", Tensor::scalar(1.0));
    let mut opt = Adam::new(0.1, 0.1);
    let g = grads_of(&cpu, &ps, &[(a, Tensor::scalar(1.0))]);
    opt.step(&mut ps, &g);
    assert_eq!(
        ps.value(b).data,
        vec![1.0],
        "no gradient: untouched, even with weight decay"
    );
    // b's first real step is its step 1 (bias correction from its own counter): moves lr.
    let g = grads_of(&cpu, &ps, &[(b, Tensor::scalar(2.0))]);
    opt.step(&mut ps, &g);
    assert!((ps.value(b).data[0] - 0.9).abs() < 1e-6);
}

#[test]
fn adam_first_step_is_bit_exact_torch() {
    // torch.optim.Adam([p], lr=0.01, weight_decay=5e-4); p = 0.5, grad = 0.1:
    // g' = 0.1 + 5e-4*0.5 = 0.10025; m = 0.010025; v = 1.00500625e-5;
    // p -= 0.1 * m / (sqrt(v)/sqrt(0.001) + 1e-8)  ->  0.5 - 0.01 * (1 - ~1e-7) = 0.49000001
    let cpu = Cpu::new(1).unwrap();
    let mut ps = ParamSet::new();
    let a = ps.add("a", Tensor::scalar(0.5));
    let mut opt = Adam::new(0.01, 5e-4);
    let g = grads_of(&cpu, &ps, &[(a, Tensor::scalar(0.1))]);
    opt.step(&mut ps, &g);
    // The f32 sequence of PyTorch's single-tensor kernel, spelled out (lerp as its vector
    // kernel's fmadd, addcdiv as `p + (value * t1) / t2`).
    let gp = 0.1f32 + 5e-4f32 * 0.5;
    let m = 0.1f32.mul_add(gp - 0.0, 0.0);
    let v = 0.0f32 * 0.999f32 + 0.001f32 * gp * gp;
    let denom = v.sqrt() / (0.001f64.sqrt() as f32) + 1e-8f32;
    let want = 0.5f32 + (-((0.01f64 / 0.1f64) as f32) * m) / denom;
    assert_eq!(ps.value(a).data[0].to_bits(), want.to_bits());
}

#[test]
fn sgd_momentum_nesterov_weight_decay() {
    let cpu = Cpu::new(1).unwrap();
    let run = |momentum: f64, nesterov: bool, wd: f64| -> Vec<f32> {
        let mut ps = ParamSet::new();
        let a = ps.add("a", Tensor::scalar(0.0));
        let mut opt = Sgd::new(0.1, momentum, wd);
        opt.nesterov = nesterov;
        let mut out = vec![];
        for _ in 0..3 {
            let g = grads_of(&cpu, &ps, &[(a, Tensor::scalar(1.0))]);
            opt.step(&mut ps, &g);
            out.push(ps.value(a).data[0]);
        }
        out
    };
    let close = |a: Vec<f32>, b: [f32; 3]| {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    };
    close(run(0.0, false, 0.0), [-0.1, -0.2, -0.3]);
    // buf: 1, 1.9, 2.71
    close(run(0.9, false, 0.0), [-0.1, -0.29, -0.561]);
    // nesterov: d = g + 0.9 buf: 1.9, 2.71, 3.439
    close(run(0.9, true, 0.0), [-0.19, -0.461, -0.8049]);
    // weight decay 0.5: g = 1 + 0.5 p: p1 = -0.1, g2 = 0.95 -> p2 = -0.195, g3 = 0.9025 -> -0.28525
    close(run(0.0, false, 0.5), [-0.1, -0.195, -0.28525]);
}

/// A large parameter is updated in chunks on the pool's threads (the engine steps inside its
/// pool): the same bits as one thread.
#[test]
fn adam_in_a_pool_matches_one_thread() {
    let n = 70_001;
    let start: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    let grad = Tensor::new(
        1,
        n,
        (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) / 3.0).collect(),
    );
    let run = |threads: usize| {
        let cpu = Cpu::new(threads).unwrap();
        let mut ps = ParamSet::new();
        let w = ps.add("w", Tensor::new(1, n, start.clone()));
        let mut opt = Adam::new(0.01, 5e-4);
        for _ in 0..3 {
            let g = grads_of(&cpu, &ps, &[(w, grad.clone())]);
            cpu.install(|| opt.step(&mut ps, &g));
        }
        ps.value(w).data.clone()
    };
    let one = run(1);
    assert_ne!(one, start, "the update moved the parameter");
    assert_eq!(one, run(3));
}
