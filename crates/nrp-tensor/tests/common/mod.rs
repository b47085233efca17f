//! Shared test helpers: a tiny deterministic RNG and an f64 finite-difference gradient check.
#![allow(dead_code)]

use nrp_tensor::{Cpu, Float, Graph, Result, Tensor, Var};

/// An op under test: builds its output from the input handles.
pub type OpFn<'f> = dyn for<'a> Fn(&mut Graph<'a, f64>, &[Var]) -> Result<Var> + 'f;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn tensor<T: Float>(&mut self, r: usize, c: usize, lo: f64, hi: f64) -> Tensor<T> {
        Tensor::new(
            r,
            c,
            (0..r * c)
                .map(|_| T::from_f64(self.range(lo, hi)))
                .collect(),
        )
    }
    /// Values in [lo, hi] bounded away from 0 by `gap` (avoids kinks at 0).
    pub fn tensor_away0(&mut self, r: usize, c: usize, lo: f64, hi: f64, gap: f64) -> Tensor<f64> {
        Tensor::new(
            r,
            c,
            (0..r * c)
                .map(|_| {
                    loop {
                        let v = self.range(lo, hi);
                        if v.abs() > gap {
                            break v;
                        }
                    }
                })
                .collect(),
        )
    }
}

pub fn backends() -> Vec<Cpu> {
    vec![Cpu::new(1).unwrap(), Cpu::new(2).unwrap()]
}

/// Builds `f(inputs)` and returns `sum(f(inputs) ⊙ R)` for a fixed random `R`, so every output
/// element gets a distinct weight.
fn weighted_loss<'a>(
    g: &mut Graph<'a, f64>,
    inputs: &'a [Tensor<f64>],
    grad_mask: &[bool],
    weights: &'a std::cell::OnceCell<Tensor<f64>>,
    f: &OpFn<'_>,
) -> (Var, Vec<Var>) {
    let vars: Vec<Var> = inputs
        .iter()
        .zip(grad_mask)
        .map(|(t, &m)| g.input(t, m))
        .collect();
    let out = f(g, &vars).expect("op failed");
    let (r, c) = g.shape(out);
    let w = weights.get_or_init(|| {
        let mut rng = Rng::new(99);
        rng.tensor(r, c, 0.5, 1.5)
    });
    assert_eq!(
        w.shape(),
        (r, c),
        "output shape changed between evaluations"
    );
    let wv = g.constant(w);
    let p = g.mul(out, wv).unwrap();
    (g.sum_all(p), vars)
}

/// Central-difference gradient check in f64 of every input whose mask is set. Checks up to
/// `max_elems` elements per input (evenly spread), with tolerance
/// `|num - ana| <= tol * max(1, |num|)`.
pub fn gradcheck(inputs: Vec<Tensor<f64>>, grad_mask: &[bool], f: &OpFn) {
    gradcheck_tol(inputs, grad_mask, 1e-6, f)
}

pub fn gradcheck_tol(inputs: Vec<Tensor<f64>>, grad_mask: &[bool], tol: f64, f: &OpFn) {
    const H: f64 = 1e-5;
    const MAX_ELEMS: usize = 40;
    for cpu in backends() {
        let weights = std::cell::OnceCell::new();
        let eval = |inp: &[Tensor<f64>]| -> f64 {
            let mut g = Graph::<f64>::new(&cpu);
            let (l, _) = weighted_loss(&mut g, inp, grad_mask, &weights, f);
            g.value(l).data[0]
        };
        let mut g = Graph::<f64>::new(&cpu);
        let (l, vars) = weighted_loss(&mut g, &inputs, grad_mask, &weights, f);
        // Round-off of the summed objective, amplified by 1/h, bounds what FD can resolve.
        let scale: f64 = {
            let p = g.value(Var::from_index(g.len() - 2));
            p.data.iter().map(|v| v.abs()).sum()
        };
        let roundoff = 8.0 * f64::EPSILON * scale / H;
        let grads = g.backward(l).unwrap();
        let analytic: Vec<Option<Tensor<f64>>> =
            vars.iter().map(|&v| grads.get(v).cloned()).collect();
        drop(g);
        for (j, inp) in inputs.iter().enumerate() {
            if !grad_mask[j] {
                continue;
            }
            let n = inp.len();
            let step = (n / MAX_ELEMS).max(1);
            for k in (0..n).step_by(step) {
                let mut plus = inputs.clone();
                plus[j].data[k] += H;
                let mut minus = inputs.clone();
                minus[j].data[k] -= H;
                let num = (eval(&plus) - eval(&minus)) / (2.0 * H);
                let ana = analytic[j].as_ref().map_or(0.0, |t| t.data[k]);
                assert!(
                    (num - ana).abs() <= tol * num.abs().max(1.0) + roundoff,
                    "threads={} input {j} element {k}: numeric {num} vs analytic {ana}",
                    cpu.threads()
                );
            }
        }
    }
}
