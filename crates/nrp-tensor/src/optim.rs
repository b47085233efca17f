//! Named parameters and optimisers with PyTorch's update rules.

use crate::cpu::simd::multiversion;
use crate::{Float, Grads, Tensor};

/// Index of a parameter in a [`ParamSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) u32);

impl ParamId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone)]
pub struct Parameter<T = f32> {
    pub name: String,
    pub value: Tensor<T>,
    /// Overrides the optimiser's weight decay for this parameter (PyTorch parameter groups).
    pub weight_decay: Option<f64>,
}

/// The learnable tensors of a program, by name (`Lin1.weight`), in registration order.
#[derive(Clone, Default)]
pub struct ParamSet<T = f32> {
    params: Vec<Parameter<T>>,
}

impl<T: Float> ParamSet<T> {
    pub fn new() -> Self {
        ParamSet { params: Vec::new() }
    }

    /// Adds a parameter; a name already present is replaced in place (same id).
    pub fn add(&mut self, name: impl Into<String>, value: Tensor<T>) -> ParamId {
        let name = name.into();
        if let Some(id) = self.id(&name) {
            self.params[id.index()].value = value;
            return id;
        }
        self.params.push(Parameter {
            name,
            value,
            weight_decay: None,
        });
        ParamId((self.params.len() - 1) as u32)
    }

    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.params
            .iter()
            .position(|p| p.name == name)
            .map(|i| ParamId(i as u32))
    }

    pub fn value(&self, id: ParamId) -> &Tensor<T> {
        &self.params[id.index()].value
    }

    pub fn value_mut(&mut self, id: ParamId) -> &mut Tensor<T> {
        &mut self.params[id.index()].value
    }

    pub fn get(&self, id: ParamId) -> &Parameter<T> {
        &self.params[id.index()]
    }

    pub fn set_weight_decay(&mut self, id: ParamId, wd: Option<f64>) {
        self.params[id.index()].weight_decay = wd;
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Parameter<T>)> {
        self.params
            .iter()
            .enumerate()
            .map(|(i, p)| (ParamId(i as u32), p))
    }
}

impl<T: Float> std::fmt::Debug for ParamSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.params.iter().map(|p| (&p.name, p.value.shape())))
            .finish()
    }
}

pub trait Optimizer<T: Float> {
    /// One update of every parameter that has a gradient (others are skipped, as PyTorch
    /// skips parameters whose `.grad` is `None`; their step counters do not advance).
    fn step(&mut self, params: &mut ParamSet<T>, grads: &Grads<T>);
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// The per-parameter state, by parameter name, for a checkpoint.
    fn export_state(&self, params: &ParamSet<T>) -> OptimState<T>;
    /// Restores what [`Optimizer::export_state`] gave, for the parameters of `params` (by
    /// name); a slot whose length differs from its parameter's is an error.
    fn import_state(&mut self, params: &ParamSet<T>, state: &OptimState<T>) -> Result<(), String>;
}

/// An optimiser's state by parameter name: (parameter, slot, values) and step counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState<T = f32> {
    pub slots: Vec<(String, String, Vec<T>)>,
    pub steps: Vec<(String, u64)>,
}

impl<T: Float> OptimState<T> {
    /// The values of `param`'s `slot`, checked against the parameter's length.
    fn slot(&self, param: &Parameter<T>, slot: &str) -> Result<Option<Vec<T>>, String> {
        let Some((_, _, v)) = self
            .slots
            .iter()
            .find(|(p, s, _)| *p == param.name && s == slot)
        else {
            return Ok(None);
        };
        if v.len() != param.value.len() {
            return Err(format!(
                "optimiser state `{slot}` of {} has {} values, the parameter has {}",
                param.name,
                v.len(),
                param.value.len()
            ));
        }
        Ok(Some(v.clone()))
    }

    fn step(&self, name: &str) -> Option<u64> {
        self.steps.iter().find(|(p, _)| p == name).map(|&(_, n)| n)
    }
}

/// `torch.optim.Adam` (L2 weight decay added to the gradient) or, with `decoupled`,
/// `torch.optim.AdamW`.
#[derive(Debug, Clone)]
pub struct Adam<T = f32> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
    state: Vec<Option<AdamState<T>>>,
}

#[derive(Debug, Clone)]
struct AdamState<T> {
    step: u64,
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Float> Adam<T> {
    /// `torch.optim.Adam(lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)`.
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled: false,
            state: Vec::new(),
        }
    }

    /// `torch.optim.AdamW(lr=lr, weight_decay=weight_decay)` (PyTorch's default decay is 0.01).
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Adam {
            decoupled: true,
            ..Adam::new(lr, weight_decay)
        }
    }
}

/// The element loop of one Adam/AdamW step, in PyTorch's operation order (f32 CPU kernels):
/// `grad.add(param, alpha=wd)` or `param.mul_(1 - lr*wd)`; `exp_avg.lerp_(grad, 1 - β1)`
/// (its vector kernel: `fmadd(coeff, end - start, base)`); `exp_avg_sq.mul_(β2)
/// .addcmul_(grad, grad, value=1 - β2)`; `denom = exp_avg_sq.sqrt() / sqrt(bc2) + eps`;
/// `param.addcdiv_(exp_avg, denom, value=-step_size)` = `p + (-step_size·m) / denom`.
struct AdamScalars<T> {
    decoupled: bool,
    /// Weight decay is non-zero (PyTorch skips the op entirely otherwise).
    apply_wd: bool,
    wd: T,
    decay: T,
    lerp_coeff: T,
    lerp_small: bool,
    b2: T,
    omb2: T,
    bc2_sqrt: T,
    eps: T,
    neg_step: T,
}

/// Elements per parallel task of an optimiser update. Only inside a pool of several threads
/// (the engine runs the step in its own pool; outside any pool, as with `--threads 1`, the
/// update stays on the caller's thread rather than on rayon's global pool).
const UPDATE_CHUNK: usize = 1 << 14;

multiversion! {
    fn adam_update<T>(x: &mut [T], g: &[T], m: &mut [T], v: &mut [T], s: &AdamScalars<T>) {
        for (((x, &g), m), v) in x.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let mut gk = g;
            if s.apply_wd {
                if s.decoupled {
                    *x *= s.decay;
                } else {
                    gk += s.wd * *x;
                }
            }
            let base = if s.lerp_small { *m } else { gk };
            *m = s.lerp_coeff.mul_add(gk - *m, base);
            *v = *v * s.b2 + s.omb2 * gk * gk;
            let denom = v.sqrt() / s.bc2_sqrt + s.eps;
            *x += (s.neg_step * *m) / denom;
        }
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn export_state(&self, params: &ParamSet<T>) -> OptimState<T> {
        let mut out = OptimState {
            slots: vec![],
            steps: vec![],
        };
        for (p, st) in params.params.iter().zip(&self.state) {
            if let Some(st) = st {
                out.slots
                    .push((p.name.clone(), "exp_avg".into(), st.m.clone()));
                out.slots
                    .push((p.name.clone(), "exp_avg_sq".into(), st.v.clone()));
                out.steps.push((p.name.clone(), st.step));
            }
        }
        out
    }

    fn import_state(&mut self, params: &ParamSet<T>, state: &OptimState<T>) -> Result<(), String> {
        self.state = Vec::with_capacity(params.len());
        for p in &params.params {
            let m = state.slot(p, "exp_avg")?;
            let v = state.slot(p, "exp_avg_sq")?;
            self.state.push(match (m, v, state.step(&p.name)) {
                (Some(m), Some(v), Some(step)) => Some(AdamState { step, m, v }),
                (None, None, None) => None,
                _ => return Err(format!("incomplete Adam state for {}", p.name)),
            });
        }
        Ok(())
    }

    fn step(&mut self, params: &mut ParamSet<T>, grads: &Grads<T>) {
        if self.state.len() < params.len() {
            self.state.resize_with(params.len(), || None);
        }
        for (i, p) in params.params.iter_mut().enumerate() {
            let Some(g) = grads.param(ParamId(i as u32)) else {
                continue;
            };
            assert_eq!(g.shape(), p.value.shape(), "gradient shape of {}", p.name);
            let st = self.state[i].get_or_insert_with(|| AdamState {
                step: 0,
                m: crate::alloc::zeroed(g.len()),
                v: crate::alloc::zeroed(g.len()),
            });
            st.step += 1;
            let wd = p.weight_decay.unwrap_or(self.weight_decay);
            // Scalars are computed in f64 like Python floats, then rounded once, as PyTorch
            // passes them to its f32 kernels.
            let bc1 = 1.0 - self.beta1.powi(st.step as i32);
            let bc2 = 1.0 - self.beta2.powi(st.step as i32);
            let w = 1.0 - self.beta1;
            let sc = AdamScalars {
                decoupled: self.decoupled,
                apply_wd: wd != 0.0,
                wd: T::from_f64(wd),
                decay: T::from_f64(1.0 - self.lr * wd),
                lerp_small: w.abs() < 0.5,
                lerp_coeff: T::from_f64(if w.abs() < 0.5 { w } else { w - 1.0 }),
                b2: T::from_f64(self.beta2),
                omb2: T::from_f64(1.0 - self.beta2),
                bc2_sqrt: T::from_f64(bc2.sqrt()),
                eps: T::from_f64(self.eps),
                neg_step: T::from_f64(-(self.lr / bc1)),
            };
            // Element-wise: chunks on the pool's threads give the same bits.
            let x = &mut p.value.data;
            if crate::Cpu::current().threads() > 1 && x.len() >= 2 * UPDATE_CHUNK {
                use rayon::prelude::*;
                x.par_chunks_mut(UPDATE_CHUNK)
                    .zip(g.data.par_chunks(UPDATE_CHUNK))
                    .zip(st.m.par_chunks_mut(UPDATE_CHUNK))
                    .zip(st.v.par_chunks_mut(UPDATE_CHUNK))
                    .for_each(|(((x, g), m), v)| adam_update(x, g, m, v, &sc));
            } else {
                adam_update(x, &g.data, &mut st.m, &mut st.v, &sc);
            }
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// `torch.optim.SGD` with optional momentum (dampening, Nesterov) and L2 weight decay.
#[derive(Debug, Clone)]
pub struct Sgd<T = f32> {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    buf: Vec<Option<Vec<T>>>,
}

impl<T: Float> Sgd<T> {
    pub fn new(lr: f64, momentum: f64, weight_decay: f64) -> Self {
        Sgd {
            lr,
            momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay,
            buf: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn export_state(&self, params: &ParamSet<T>) -> OptimState<T> {
        let mut out = OptimState::default();
        for (p, b) in params.params.iter().zip(&self.buf) {
            if let Some(b) = b {
                out.slots
                    .push((p.name.clone(), "momentum_buffer".into(), b.clone()));
            }
        }
        out
    }

    fn import_state(&mut self, params: &ParamSet<T>, state: &OptimState<T>) -> Result<(), String> {
        self.buf = params
            .params
            .iter()
            .map(|p| state.slot(p, "momentum_buffer"))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn step(&mut self, params: &mut ParamSet<T>, grads: &Grads<T>) {
        if self.buf.len() < params.len() {
            self.buf.resize_with(params.len(), || None);
        }
        let lr = T::from_f64(self.lr);
        let mom = T::from_f64(self.momentum);
        let damp = T::from_f64(1.0 - self.dampening);
        for (i, p) in params.params.iter_mut().enumerate() {
            let Some(g) = grads.param(ParamId(i as u32)) else {
                continue;
            };
            assert_eq!(g.shape(), p.value.shape(), "gradient shape of {}", p.name);
            let wd = p.weight_decay.unwrap_or(self.weight_decay);
            let wdt = T::from_f64(wd);
            let first = self.buf[i].is_none();
            let buf = (self.momentum != 0.0)
                .then(|| self.buf[i].get_or_insert_with(|| crate::alloc::zeroed(g.len())));
            match buf {
                None => {
                    for (x, &gk) in p.value.data.iter_mut().zip(&g.data) {
                        let gk = if wd != 0.0 { gk + wdt * *x } else { gk };
                        *x += -lr * gk;
                    }
                }
                Some(buf) => {
                    for ((x, &gk), b) in p.value.data.iter_mut().zip(&g.data).zip(buf.iter_mut()) {
                        let gk = if wd != 0.0 { gk + wdt * *x } else { gk };
                        // torch: the buffer starts as a copy of the first gradient.
                        *b = if first { gk } else { *b * mom + damp * gk };
                        let d = if self.nesterov { gk + mom * *b } else { *b };
                        *x += -lr * d;
                    }
                }
            }
        }
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}
