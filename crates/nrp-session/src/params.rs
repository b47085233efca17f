//! The parameters of a run: initialised from the seed as PyTorch would (module
//! construction order, `torch.manual_seed`), or loaded from a checkpoint.

use crate::error::Result;
use crate::program::used_parameters;
use nrp_data::memory::format_bytes_f64;
use nrp_params::ParamMap;
use nrp_sema::{Program, RelId};

/// Every parameter of `program`, initialised in module construction order from one
/// generator seeded like `torch.manual_seed(seed)`; an error when a tensor's memory cannot
/// be allocated.
pub fn init(program: &Program, seed: u64) -> std::result::Result<ParamMap, String> {
    nrp_params::init_parameters(&program.parameters(), seed).map_err(|s| {
        let bytes = s
            .shape
            .iter()
            .fold(nrp_sema::params::PARAM_BYTES as f64, |b, &d| b * d as f64);
        format!(
            "out of memory: cannot allocate {} for the parameter `{}` {:?}",
            format_bytes_f64(bytes),
            s.name,
            s.shape
        )
    })
}

/// Parameters for a query or a run: from the checkpoint at `load`, the rest initialised
/// from `seed`, with the warnings to show.
///
/// Without a checkpoint that is what the user asked for, and nothing is said. With one,
/// a warning names the tensors of the file that no module owns, and another (some of) the
/// parameters used by `needed` that the file did not give.
pub fn parameters(
    program: &Program,
    seed: u64,
    load: Option<&str>,
    needed: &[RelId],
) -> Result<(ParamMap, Vec<String>)> {
    let Some(path) = load else {
        return Ok((init(program, seed)?, vec![]));
    };
    let loaded = nrp_params::load_parameters(init(program, seed)?, std::path::Path::new(path))?;
    let mut warnings = vec![];
    if !loaded.ignored.is_empty() {
        warnings.push(format!(
            "warning: {path}: ignoring tensors no module of the program owns: {}",
            name_list(&loaded.ignored)
        ));
    }
    let used = used_parameters(program, needed);
    let missing: Vec<String> = used
        .iter()
        .filter(|u| loaded.initialised.contains(u))
        .cloned()
        .collect();
    warnings.extend(missing_warning(path, seed, used.len(), &missing));
    Ok((loaded.params, warnings))
}

/// The one warning line about used parameters that a checkpoint did not give.
pub fn missing_warning(path: &str, seed: u64, used: usize, missing: &[String]) -> Option<String> {
    if missing.is_empty() {
        return None;
    }
    let n = missing.len();
    let which = if n == used {
        format!("none of the {used} parameters used is in {path}")
    } else {
        format!(
            "{n} of the {used} parameters used {} not in {path}",
            if n == 1 { "is" } else { "are" }
        )
    };
    Some(format!(
        "warning: {which}; initialised from --seed {seed}: {}",
        name_list(missing)
    ))
}

/// At most five names, then how many more.
pub fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parameters_warning_is_one_short_line() {
        let names = |n: usize| (0..n).map(|i| format!("L{i}.weight")).collect::<Vec<_>>();
        assert_eq!(missing_warning("w.st", 0, 3, &[]), None);
        assert_eq!(
            missing_warning("w.st", 0, 3, &names(1)).unwrap(),
            "warning: 1 of the 3 parameters used is not in w.st; initialised from --seed 0: L0.weight"
        );
        assert_eq!(
            missing_warning("w.st", 7, 2, &names(2)).unwrap(),
            "warning: none of the 2 parameters used is in w.st; initialised from --seed 7: L0.weight, L1.weight"
        );
        let w = missing_warning("w.st", 0, 5000, &names(4000)).unwrap();
        assert_eq!(
            w,
            "warning: 4000 of the 5000 parameters used are not in w.st; initialised from --seed 0: \
             L0.weight, L1.weight, L2.weight, L3.weight, L4.weight and 3995 more"
        );
    }
}
