//! A program's parameters created from their specifications: initialised in order from
//! one generator seeded like `torch.manual_seed(seed)` (so `nn.Linear` modules built in the
//! same order agree bit for bit), or overlaid with a checkpoint's tensors.
//!
//! Checking a program (nrp-sema) only *describes* its parameters ([`ParamSpec`]: names,
//! shapes, initialisers); creating and loading them is this crate's job.

use crate::{Init, ParamMap, TorchRng, read_safetensors, try_init_tensor};
use std::path::Path;

/// One parameter as a program declares it: `Lin1.weight`, `[16, 1433]`, its initialiser.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

/// Every parameter of `specs`, initialised in their order from `seed`; the spec whose
/// memory could not be allocated on failure.
pub fn init_parameters(specs: &[ParamSpec], seed: u64) -> Result<ParamMap, &ParamSpec> {
    let mut rng = TorchRng::new(seed);
    specs
        .iter()
        .map(|s| {
            try_init_tensor(&mut rng, &s.shape, &s.init)
                .map(|t| (s.name.clone(), t))
                .map_err(|_| s)
        })
        .collect()
}

/// Parameters from a checkpoint over initialised ones.
pub struct Loaded {
    pub params: ParamMap,
    /// Parameters the file did not give (they keep their initial value).
    pub initialised: Vec<String>,
    /// Tensors in the file that no parameter of `params` is named after (optimiser state
    /// left out).
    pub ignored: Vec<String>,
}

/// Overlays `params` with the tensors of the safetensors file at `path`: each tensor
/// named after a parameter must have its shape.
pub fn load_parameters(mut params: ParamMap, path: &Path) -> Result<Loaded, String> {
    let file = read_safetensors(path).map_err(|e| e.message)?;
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
        .filter(|k| !params.contains_key(*k) && !k.starts_with(crate::OPTIMIZER_PREFIX))
        .cloned()
        .collect();
    Ok(Loaded {
        params,
        initialised,
        ignored,
    })
}
