//! Training checkpoints: where a `--save` may write, and what a resumable checkpoint holds.
//!
//! A checkpoint is a safetensors file. Its weights are stored under their parameter names
//! (`Lin1.weight`), exactly as a plain `--save` writes them, so any checkpoint loads with
//! `--load` or in PyTorch. A resumable one adds the optimiser's state as tensors named
//! `__optimizer__/<parameter>/<slot>` (a `/` never occurs in a module name) and string
//! metadata: `nrp.fit` (0-based index of the `?fit` statement), `nrp.epoch` (epochs of that
//! fit completed), `nrp.optimizer`, `nrp.rng` (position of the fit's dropout stream), and `nrp.step/<parameter>` (the optimiser's step count).

use crate::{ParamMap, ParamTensor, parse_safetensors, write_safetensors};
use std::fs;
use std::path::{Path, PathBuf};

/// Prefix of the optimiser-state tensors in a checkpoint.
pub const OPTIMIZER_PREFIX: &str = "__optimizer__/";

/// Where a run stands inside its `?fit` statements.
#[derive(Clone, Debug, PartialEq)]
pub struct FitProgress {
    /// 0-based index of the `?fit` statement among the program's `?fit` statements.
    pub fit: usize,
    /// Epochs of that fit completed.
    pub epoch: usize,
    /// The optimiser (`adam`, `adamw`, `sgd`) whose state is stored.
    pub optimizer: String,
    /// Per-parameter state slots: (parameter, slot, values).
    pub slots: Vec<(String, String, Vec<f32>)>,
    /// Per-parameter step counts.
    pub steps: Vec<(String, u64)>,
    /// Position of the fit's dropout stream.
    pub rng: u64,
}

/// Weights, and where training stood when they were written.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub weights: ParamMap,
    pub progress: Option<FitProgress>,
    /// Code tables of categorical encoders (key → category texts in code order), stored as
    /// metadata `nrp.codes/<key>`: a JSON array of strings.
    pub codes: Codes,
}

/// Code tables of categorical encoders, by key (`nrp_sema::codes`).
pub type Codes = std::collections::BTreeMap<String, Vec<String>>;

/// Metadata prefix of a code table.
pub const CODES_PREFIX: &str = "nrp.codes/";

/// The code tables in a checkpoint's metadata.
pub fn read_codes(meta: &[(String, String)], what: &str) -> Result<Codes, String> {
    let mut out = Codes::new();
    for (k, v) in meta {
        let Some(key) = k.strip_prefix(CODES_PREFIX) else {
            continue;
        };
        let bad = || format!("{what}: metadata `{k}` is not a JSON array of strings");
        let json = crate::json::parse(v).map_err(|_| bad())?;
        let crate::json::Value::Array(items) = json else {
            return Err(bad());
        };
        let table = items
            .into_iter()
            .map(|x| match x {
                crate::json::Value::String(s) => Ok(s),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<String>, String>>()?;
        out.insert(key.to_string(), table);
    }
    Ok(out)
}

/// Reads only the code tables of a safetensors file.
pub fn read_codes_file(path: &Path) -> Result<Codes, String> {
    let what = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| format!("{what}: cannot read: {e}"))?;
    let (_, meta) = parse_safetensors(&bytes, &what).map_err(|e| e.message)?;
    read_codes(&meta, &what)
}

impl Checkpoint {
    /// Writes atomically (temporary file, fsync, rename) to `path`.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut tensors = self.weights.clone();
        let mut meta: Vec<(String, String)> = vec![];
        for (key, table) in &self.codes {
            let json = crate::json::Value::Array(
                table
                    .iter()
                    .map(|t| crate::json::Value::String(t.clone()))
                    .collect(),
            );
            meta.push((format!("{CODES_PREFIX}{key}"), json.to_compact()));
        }
        if let Some(p) = &self.progress {
            meta.push(("nrp.fit".into(), p.fit.to_string()));
            meta.push(("nrp.epoch".into(), p.epoch.to_string()));
            meta.push(("nrp.optimizer".into(), p.optimizer.clone()));
            meta.push(("nrp.rng".into(), p.rng.to_string()));
            for (param, step) in &p.steps {
                meta.push((format!("nrp.step/{param}"), step.to_string()));
            }
            for (param, slot, values) in &p.slots {
                tensors.insert(
                    format!("{OPTIMIZER_PREFIX}{param}/{slot}"),
                    ParamTensor {
                        shape: vec![values.len()],
                        data: values.clone(),
                    },
                );
            }
        }
        write_safetensors(path, &tensors, &meta).map_err(|e| e.message)
    }

    /// Reads a checkpoint; a file without `nrp.fit` metadata (any safetensors file) has
    /// weights only.
    pub fn read(path: &Path) -> Result<Checkpoint, String> {
        let what = path.display().to_string();
        let bytes = fs::read(path).map_err(|e| format!("{what}: cannot read: {e}"))?;
        let (mut tensors, meta) = parse_safetensors(&bytes, &what).map_err(|e| e.message)?;
        let get = |k: &str| meta.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let number = |k: &str| -> Result<Option<u64>, String> {
            get(k)
                .map(|v| {
                    v.parse::<u64>()
                        .map_err(|_| format!("{what}: metadata `{k}` is not a count: `{v}`"))
                })
                .transpose()
        };
        let slot_names: Vec<String> = tensors
            .keys()
            .filter(|k| k.starts_with(OPTIMIZER_PREFIX))
            .cloned()
            .collect();
        let mut slots = vec![];
        for name in slot_names {
            let t = tensors.remove(&name).expect("listed");
            let rest = &name[OPTIMIZER_PREFIX.len()..];
            let Some((param, slot)) = rest.rsplit_once('/') else {
                return Err(format!(
                    "{what}: optimiser tensor `{name}` has no slot name"
                ));
            };
            slots.push((param.to_string(), slot.to_string(), t.data));
        }
        let progress = match (number("nrp.fit")?, number("nrp.epoch")?) {
            (Some(fit), Some(epoch)) => {
                let mut steps = vec![];
                for (k, v) in &meta {
                    if let Some(param) = k.strip_prefix("nrp.step/") {
                        let n = v
                            .parse::<u64>()
                            .map_err(|_| format!("{what}: metadata `{k}` is not a count: `{v}`"))?;
                        steps.push((param.to_string(), n));
                    }
                }
                Some(FitProgress {
                    fit: fit as usize,
                    epoch: epoch as usize,
                    optimizer: get("nrp.optimizer").unwrap_or("").to_string(),
                    slots,
                    steps,
                    rng: number("nrp.rng")?.unwrap_or(0),
                })
            }
            _ => None,
        };
        Ok(Checkpoint {
            weights: tensors,
            progress,
            codes: read_codes(&meta, &what)?,
        })
    }
}

/// Checks, before any training, that `path` can receive a checkpoint, and returns the file
/// to write: the folder exists and is writable, and the target is absent or a regular file.
/// Directories, devices, FIFOs and sockets are refused. A symbolic link is followed: the
/// file it names is written (the link stays a link), as `cp` and `torch.save` do.
pub fn resolve_save_target(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("--save needs a file name".into());
    }
    let mut target = path.to_path_buf();
    // Follow a chain of links (bounded, as the kernel bounds it).
    for _ in 0..40 {
        match fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = fs::read_link(&target)
                    .map_err(|e| format!("--save {shown}: cannot read the link: {e}"))?;
                target = match target.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => break,
        }
    }
    match fs::symlink_metadata(&target) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!("--save {shown}: too many levels of symbolic links"));
        }
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "--save {shown}: is a directory; give a file name such as {}",
                path.join("weights.safetensors").display()
            ));
        }
        Ok(m) if !m.is_file() => {
            return Err(format!(
                "--save {shown}: is {}, not a regular file; checkpoints are written only to \
                 regular files",
                special_kind(&m)
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("--save {shown}: {e}")),
    }
    if target.file_name().is_none() {
        return Err(format!("--save {shown}: not a file path"));
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("--save {shown}: {} is not a folder", dir.display())),
        Err(_) => {
            return Err(format!(
                "--save {shown}: the folder {} does not exist",
                dir.display()
            ));
        }
    }
    // Writable: the rename at the end of a save needs to create a file in the folder.
    let probe = dir.join(format!(".nrp-save-probe-{}", std::process::id()));
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
        }
        Err(e) => {
            return Err(format!(
                "--save {shown}: cannot write in the folder {}: {e}",
                dir.display()
            ));
        }
    }
    Ok(target)
}

#[cfg(unix)]
fn special_kind(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::Metadata) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nrp-ckpt-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_with_optimizer_state() {
        let d = tmp("rt");
        let mut weights = ParamMap::new();
        weights.insert(
            "L.weight".into(),
            ParamTensor::new(vec![2, 1], vec![1.0, -2.5]).unwrap(),
        );
        let c = Checkpoint {
            weights,
            progress: Some(FitProgress {
                fit: 1,
                epoch: 7,
                optimizer: "adam".into(),
                slots: vec![("L.weight".into(), "exp_avg".into(), vec![0.5, 0.25])],
                steps: vec![("L.weight".into(), 7)],
                rng: 12345,
            }),
            codes: [(
                "Dept".to_string(),
                vec!["eng".to_string(), "say \"hi\"".to_string()],
            )]
            .into_iter()
            .collect(),
        };
        let p = d.join("c.safetensors");
        c.write(&p).unwrap();
        assert_eq!(Checkpoint::read(&p).unwrap(), c);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn save_targets() {
        let d = tmp("targets");
        assert!(resolve_save_target(&d.join("new.safetensors")).is_ok());
        let e = resolve_save_target(&d).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        let e = resolve_save_target(&d.join("missing/w.safetensors")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        #[cfg(unix)]
        {
            let e = resolve_save_target(Path::new("/dev/null")).unwrap_err();
            assert!(e.contains("a device"), "{e}");
            let real = d.join("real.safetensors");
            fs::write(&real, b"x").unwrap();
            let link = d.join("link.safetensors");
            std::os::unix::fs::symlink("real.safetensors", &link).unwrap();
            assert_eq!(resolve_save_target(&link).unwrap(), real);
        }
        let _ = fs::remove_dir_all(&d);
    }
}
