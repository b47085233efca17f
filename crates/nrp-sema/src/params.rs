//! The sizes of a program's learnable parameters against the memory budget, and which
//! modules a `?fit` trains. Creating and loading the parameters is not sema's job: see
//! `nrp_params::init_parameters` and `nrp_session::params`.

use crate::ir::{Module, ModuleId, RelId, RelKind, Relation};
use nrp_data::memory::{format_bytes, format_bytes_f64};
use nrp_syntax::Diagnostic;

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
