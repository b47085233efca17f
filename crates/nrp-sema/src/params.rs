//! The learnable parameters of a program: initialised as PyTorch would from a seed, or
//! loaded from a safetensors checkpoint (names and shapes of LANGUAGE.md §3, §7).

use crate::ir::{Module, ModuleId, Program, RelId, RelKind, Relation};
use nrp_data::memory::{format_bytes, format_bytes_f64};
use nrp_params::{ParamMap, TorchRng, read_safetensors, try_init_tensor};
use nrp_syntax::Diagnostic;
use std::path::Path;

/// Every parameter, initialised in module construction order from one generator seeded
/// like `torch.manual_seed(seed)` (so `nn.Linear` built in the same order agrees bit for bit).
/// Panics where [`try_init_parameters`] fails (tests; the command line uses that one).
pub fn init_parameters(program: &Program, seed: u64) -> ParamMap {
    try_init_parameters(program, seed).unwrap_or_else(|e| panic!("{e}"))
}

/// [`init_parameters`], or an error when a tensor's memory cannot be allocated.
pub fn try_init_parameters(program: &Program, seed: u64) -> Result<ParamMap, String> {
    let mut rng = TorchRng::new(seed);
    program
        .parameters()
        .into_iter()
        .map(|s| {
            try_init_tensor(&mut rng, &s.shape, &s.init)
                .map(|t| (s.name.clone(), t))
                .map_err(|_| {
                    let bytes = s
                        .shape
                        .iter()
                        .fold(PARAM_BYTES as f64, |b, &d| b * d as f64);
                    format!(
                        "out of memory: cannot allocate {} for the parameter `{}` {:?}",
                        format_bytes_f64(bytes),
                        s.name,
                        s.shape
                    )
                })
        })
        .collect()
}

/// Bytes of one parameter (float32).
pub const PARAM_BYTES: u128 = 4;

/// Copies of a trained parameter that training holds: its value, its gradient and the
/// optimiser's two moments (Adam's; SGD with momentum keeps one, plain SGD none).
pub const TRAINING_COPIES: u128 = 4;

/// The modules that a `?fit` trains: those applied by the rules of its loss relation
/// (`losses`) and of the relations it depends on.
pub fn trained_modules(relations: &[Relation], modules: usize, losses: &[RelId]) -> Vec<bool> {
    let mut trained = vec![false; modules];
    let mut seen = vec![false; relations.len()];
    let mut stack = losses.to_vec();
    while let Some(rel) = stack.pop() {
        if std::mem::replace(&mut seen[rel], true) {
            continue;
        }
        if let RelKind::Derived(rule) = &relations[rel].kind {
            stack.extend(rule.dependencies());
            for (_, e) in rule.bodies() {
                for m in e.map(|e| e.modules()).unwrap_or_default() {
                    trained[m] = true;
                }
            }
        }
    }
    trained
}

/// Number of parameters of a module (checked: `None` when the count overflows).
fn module_parameters(module: &Module) -> Option<u128> {
    module
        .kind
        .params(&module.name)
        .iter()
        .try_fold(0u128, |acc, p| {
            let n = p
                .shape
                .iter()
                .try_fold(1u128, |a, &d| a.checked_mul(d as u128))?;
            acc.checked_add(n)
        })
}

/// Compares every module's parameters, and all of them together, with the memory budget
/// `limit` (bytes), before any is allocated: a module whose parameters need more, counting
/// [`TRAINING_COPIES`] for a module that a `?fit` trains, is an error at the module, as is
/// the module at which the running total (in construction order) passes the limit. Every
/// module counts, used by a rule or not (all are initialised). Returns the total bytes.
pub fn check_sizes(modules: &[Module], trained: &[bool], limit: u64) -> Result<u128, Diagnostic> {
    let limit_text = format_bytes(limit);
    let mut order: Vec<ModuleId> = (0..modules.len()).collect();
    order.sort_by_key(|&m| modules[m].created_at);
    let mut total: u128 = 0;
    let mut largest: Vec<(u128, ModuleId)> = vec![];
    for m in order {
        let module = &modules[m];
        let what = format!("`{}` ({})", module.name, module.kind.describe());
        let Some(count) = module_parameters(module) else {
            return Err(Diagnostic::error(
                format!("{what} has more parameters than can be counted"),
                module.span,
            ));
        };
        if count == 0 {
            continue;
        }
        let bytes = count * PARAM_BYTES;
        let copies = if trained[m] { TRAINING_COPIES } else { 1 };
        let held = bytes * copies;
        if held > limit as u128 {
            let message = if copies == 1 || bytes > limit as u128 {
                format!(
                    "{what} has {count} parameters: {}, more than the memory limit of {limit_text}",
                    format_bytes_f64(bytes as f64)
                )
            } else {
                format!(
                    "{what} has {count} parameters ({}); training holds {copies} copies of them (values, gradients and the optimiser's two moments): {}, more than the memory limit of {limit_text}",
                    format_bytes_f64(bytes as f64),
                    format_bytes_f64(held as f64)
                )
            };
            return Err(Diagnostic::error(message, module.span)
                .with_label(format!("{} of parameters", format_bytes_f64(bytes as f64))));
        }
        total += held;
        largest.push((held, m));
        if total > limit as u128 {
            largest.sort_by_key(|&(b, m)| (std::cmp::Reverse(b), m));
            let list: Vec<String> = largest
                .iter()
                .take(3)
                .map(|&(b, m)| format!("`{}` {}", modules[m].name, format_bytes_f64(b as f64)))
                .collect();
            return Err(Diagnostic::error(
                format!(
                    "the parameters of the modules need {} together, more than the memory limit of {limit_text}",
                    format_bytes_f64(total as f64)
                ),
                module.span,
            )
            .with_label("the total passes the limit here")
            .with_note(format!(
                "largest: {} (a module that a `?fit` trains counts {TRAINING_COPIES} copies: values, gradients and the optimiser's two moments)",
                list.join(", ")
            )));
        }
    }
    Ok(total)
}

/// Parameters from a checkpoint, the rest initialised from `seed`.
pub struct Loaded {
    pub params: ParamMap,
    /// Parameters the file did not give (initialised from the seed).
    pub initialised: Vec<String>,
    /// Tensors in the file that no module of the program owns.
    pub ignored: Vec<String>,
}

pub fn load_parameters(program: &Program, path: &Path, seed: u64) -> Result<Loaded, String> {
    let file = read_safetensors(path).map_err(|e| e.message)?;
    let mut params = try_init_parameters(program, seed)?;
    let mut initialised = vec![];
    for (name, tensor) in params.iter_mut() {
        match file.get(name) {
            Some(t) if t.shape == tensor.shape => *tensor = t.clone(),
            Some(t) => {
                return Err(format!(
                    "{}: tensor `{name}` has shape {:?}, but the program's `{name}` has shape {:?}",
                    path.display(),
                    t.shape,
                    tensor.shape
                ));
            }
            None => initialised.push(name.clone()),
        }
    }
    let ignored = file
        .keys()
        .filter(|k| !params.contains_key(*k) && !k.starts_with(nrp_params::OPTIMIZER_PREFIX))
        .cloned()
        .collect();
    Ok(Loaded {
        params,
        initialised,
        ignored,
    })
}
