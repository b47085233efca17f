//! The learnable parameters of a program: initialised as PyTorch would from a seed, or
//! loaded from a safetensors checkpoint (names and shapes of LANGUAGE.md §3, §7).

use crate::ir::Program;
use nrp_params::{ParamMap, TorchRng, init_tensor, read_safetensors};
use std::path::Path;

/// Every parameter, initialised in module construction order from one generator seeded
/// like `torch.manual_seed(seed)` (so `nn.Linear` built in the same order agrees bit for bit).
pub fn init_parameters(program: &Program, seed: u64) -> ParamMap {
    let mut rng = TorchRng::new(seed);
    program
        .parameters()
        .into_iter()
        .map(|s| (s.name.clone(), init_tensor(&mut rng, &s.shape, &s.init)))
        .collect()
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
    let mut params = init_parameters(program, seed);
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
