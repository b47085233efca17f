//! The safetensors checkpoint format: an 8-byte little-endian header length, a JSON header
//! `{"__metadata__": {..}, "name": {"dtype", "shape", "data_offsets": [begin, end]}, ..}`,
//! then the tensor bytes (little-endian, row-major), offsets relative to the end of the header.

use crate::json::{self, Value};
use crate::{ParamError, ParamMap, ParamTensor, checked_numel};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads a `.safetensors` file (see [`read_safetensors_bytes`]).
pub fn read_safetensors(path: &Path) -> Result<ParamMap, ParamError> {
    let what = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| ParamError::new(format!("{what}: cannot read: {e}")))?;
    read_safetensors_bytes(&bytes, &what)
}

/// Parses safetensors bytes; `what` (usually the file name) starts every error message.
///
/// F32 tensors are kept; F64, F16 and BF16 are converted to f32 (F64 rounds to nearest,
/// the half formats are exact). Any other dtype is an error naming the tensor and dtype.
/// `__metadata__` is ignored. Checked: the header length, the JSON and its layout, that each
/// tensor's byte range lies inside the data and matches its shape and dtype, and that no two
/// ranges overlap. Gaps between ranges and bytes after the last one are tolerated.
pub fn read_safetensors_bytes(bytes: &[u8], what: &str) -> Result<ParamMap, ParamError> {
    parse_safetensors(bytes, what).map(|(tensors, _)| tensors)
}

/// [`read_safetensors_bytes`], also returning the string entries of `__metadata__` in file order
/// (entries whose value is not a string are skipped).
pub fn parse_safetensors(
    bytes: &[u8],
    what: &str,
) -> Result<(ParamMap, Vec<(String, String)>), ParamError> {
    let err = |msg: String| ParamError::new(format!("{what}: {msg}"));
    if bytes.len() < 8 {
        return Err(err(format!(
            "not a safetensors file: {} bytes, too short for the 8-byte header length",
            bytes.len()
        )));
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&bytes[..8]);
    let header_len = u64::from_le_bytes(len_bytes);
    let available = (bytes.len() - 8) as u64;
    if header_len > available {
        return Err(err(format!(
            "truncated or not a safetensors file: header length {header_len} exceeds the \
             {available} bytes after it"
        )));
    }
    let header_end = 8 + header_len as usize;
    let header = json::parse_bytes(&bytes[8..header_end])
        .map_err(|e| err(format!("invalid JSON header: {e}")))?;
    let Value::Object(members) = header else {
        return Err(err("the header is not a JSON object".to_string()));
    };
    let data = &bytes[header_end..];

    let mut tensors = ParamMap::new();
    let mut metadata = Vec::new();
    // (begin, end, name) of every tensor, for the overlap check.
    let mut ranges: Vec<(usize, usize, &str)> = Vec::new();
    let mut seen_metadata = false;
    for (name, info) in &members {
        if name == "__metadata__" {
            if seen_metadata {
                return Err(err("'__metadata__' appears twice".to_string()));
            }
            seen_metadata = true;
            if let Value::Object(entries) = info {
                for (k, v) in entries {
                    if let Value::String(s) = v {
                        metadata.push((k.clone(), s.clone()));
                    }
                }
            }
            continue;
        }
        let terr = |msg: String| err(format!("tensor '{name}': {msg}"));
        if tensors.contains_key(name) {
            return Err(terr("appears twice in the header".to_string()));
        }
        if !matches!(info, Value::Object(_)) {
            return Err(terr("header entry is not an object".to_string()));
        }
        let dtype = info
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| terr("missing or non-string 'dtype'".to_string()))?;
        let shape = info
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| terr("missing or non-array 'shape'".to_string()))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| terr("'shape' must hold non-negative integers".to_string()))?;
        let offsets = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .ok_or_else(|| terr("missing or non-array 'data_offsets'".to_string()))?;
        let [begin, end] = offsets else {
            return Err(terr("'data_offsets' must be [begin, end]".to_string()));
        };
        let (Some(begin), Some(end)) = (begin.as_u64(), end.as_u64()) else {
            return Err(terr(
                "'data_offsets' must hold non-negative integers".to_string(),
            ));
        };
        if begin > end {
            return Err(terr(format!(
                "data_offsets [{begin}, {end}] end before they begin"
            )));
        }
        if end > data.len() as u64 {
            return Err(terr(format!(
                "data_offsets [{begin}, {end}] lie outside the {} data bytes (truncated file?)",
                data.len()
            )));
        }
        let (begin, end) = (begin as usize, end as usize);
        let elem_size = match dtype {
            "F32" => 4,
            "F64" => 8,
            "F16" | "BF16" => 2,
            _ => {
                return Err(terr(format!(
                    "dtype {dtype} is not supported (nrp reads F32, F64, F16, BF16)"
                )));
            }
        };
        let count = checked_numel(&shape);
        let need = count.and_then(|n| n.checked_mul(elem_size));
        if need != Some(end - begin) {
            return Err(terr(format!(
                "data_offsets [{begin}, {end}] hold {} bytes, but shape {shape:?} of {dtype} \
                 needs {}",
                end - begin,
                need.map_or("more than fits in memory".to_string(), |n| n.to_string())
            )));
        }
        let raw = &data[begin..end];
        let values: Vec<f32> = match dtype {
            "F32" => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            "F64" => raw
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            "F16" => raw
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|c| bf16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        };
        ranges.push((begin, end, name));
        tensors.insert(
            name.clone(),
            ParamTensor {
                shape,
                data: values,
            },
        );
    }

    // Empty ranges hold no bytes and cannot overlap anything.
    ranges.retain(|r| r.0 < r.1);
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.0 < a.1 {
            return Err(err(format!(
                "tensors '{}' (bytes {}..{}) and '{}' (bytes {}..{}) overlap",
                a.2, a.0, a.1, b.2, b.0, b.1
            )));
        }
    }
    Ok((tensors, metadata))
}

/// The safetensors bytes for `tensors` (all F32), as the Python `safetensors` library lays
/// them out: compact JSON header with `__metadata__` first (only when `metadata` is not
/// empty), then the tensors in name order with contiguous offsets, the header padded with
/// spaces to a multiple of 8 bytes, then the data in the same order. Metadata entries keep
/// the given order (Python's library writes several in hash-map order).
pub fn serialize_safetensors(
    tensors: &ParamMap,
    metadata: &[(String, String)],
) -> Result<Vec<u8>, ParamError> {
    let mut header = Value::Object(Vec::new());
    if !metadata.is_empty() {
        let mut entries = Vec::with_capacity(metadata.len());
        for (i, (k, v)) in metadata.iter().enumerate() {
            if metadata[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(ParamError::new(format!("metadata key '{k}' appears twice")));
            }
            entries.push((k.clone(), Value::String(v.clone())));
        }
        header.push("__metadata__", Value::Object(entries));
    }
    let mut offset = 0usize;
    for (name, t) in tensors {
        if name == "__metadata__" {
            return Err(ParamError::new(
                "a tensor cannot be named '__metadata__'".to_string(),
            ));
        }
        if checked_numel(&t.shape) != Some(t.data.len()) {
            return Err(ParamError::new(format!(
                "tensor '{name}': shape {:?} does not match its {} values",
                t.shape,
                t.data.len()
            )));
        }
        let end = offset + 4 * t.data.len();
        header.push(
            name.clone(),
            Value::object([
                ("dtype", Value::from("F32")),
                (
                    "shape",
                    Value::Array(t.shape.iter().map(|&d| Value::from(d)).collect()),
                ),
                (
                    "data_offsets",
                    Value::Array(vec![Value::from(offset), Value::from(end)]),
                ),
            ]),
        );
        offset = end;
    }
    let mut text = header.to_compact().into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    for t in tensors.values() {
        for v in &t.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// Distinguishes concurrent writes from one process.
static WRITE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `tensors` as an F32 safetensors file (layout of [`serialize_safetensors`]),
/// atomically: the bytes go to `<path>.tmp-<pid>-<n>` in the same directory, are fsynced, and
/// the temporary file is renamed over `path`. On any failure the temporary file is removed and
/// `path` keeps its old content (or stays absent). The suffix `-<n>` keeps two threads of one
/// process that write the same path from sharing a temporary file.
pub fn write_safetensors(
    path: &Path,
    tensors: &ParamMap,
    metadata: &[(String, String)],
) -> Result<(), ParamError> {
    let what = path.display();
    let bytes = serialize_safetensors(tensors, metadata)
        .map_err(|e| ParamError::new(format!("{what}: {}", e.message)))?;
    let Some(file_name) = path.file_name() else {
        return Err(ParamError::new(format!("{what}: not a file path")));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        WRITE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    remove_stale_temporaries(dir, file_name);

    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true) // a leftover from a crashed process that had the same pid
        .open(&tmp)
        .map_err(|e| {
            ParamError::new(format!(
                "{what}: cannot create temporary file {}: {e}",
                tmp.display()
            ))
        })?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()));
    drop(file);
    let renamed = written.and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| format!("cannot rename {} over it: {e}", tmp.display()))
    });
    if let Err(msg) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(ParamError::new(format!("{what}: {msg}")));
    }
    // Make the rename itself durable; some platforms cannot open or sync a directory, and the
    // file is already complete either way, so failures here are not errors.
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes `<file>.tmp-<pid>-<n>` files left by a save that was killed (`kill -9`, power
/// loss) when process `pid` no longer runs. Only where `/proc` tells which processes run.
fn remove_stale_temporaries(dir: &Path, file_name: &std::ffi::OsStr) {
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return;
    }
    let mut prefix = file_name.to_string_lossy().into_owned();
    prefix.push_str(".tmp-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// IEEE 754 binary16 to f32, exactly (subnormals, infinities and NaN payloads included).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits & 0x8000) as u32) << 16;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let mant = (bits & 0x03ff) as u32;
    let magnitude = match exp {
        // Zero or subnormal: mant * 2^-24, exact in f32.
        0 => (mant as f32 * (1.0 / 16_777_216.0)).to_bits(),
        0x1f => 0x7f80_0000 | (mant << 13),
        _ => ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// bfloat16 to f32: the upper half of an f32, exactly.
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_special_values() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x8000).is_sign_negative() && f16_to_f32(0x8000) == 0.0);
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc049), -3.140625);
    }
}
