//! Reading, writing and validating safetensors files.

use nrp_params::{
    ParamMap, ParamTensor, parse_safetensors, read_safetensors, read_safetensors_bytes,
    serialize_safetensors, write_safetensors,
};
use std::fs;
use std::path::{Path, PathBuf};

/// A fresh, empty directory under the system temp dir (no tempfile crate: no dependencies).
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nrp-params-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A file from a header (JSON text, padded as given) and raw data bytes.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn read_err(bytes: &[u8]) -> String {
    match read_safetensors_bytes(bytes, "ckpt.safetensors") {
        Ok(m) => panic!("read {m:?}"),
        Err(e) => {
            assert!(e.message.starts_with("ckpt.safetensors: "), "{}", e.message);
            e.message
        }
    }
}

fn sample() -> ParamMap {
    let mut m = ParamMap::new();
    let t = |shape: Vec<usize>, data: Vec<f32>| ParamTensor::new(shape, data).unwrap();
    m.insert(
        "Lin1.weight".into(),
        t(vec![4, 3], (0..12).map(|i| i as f32 * 0.37 - 2.0).collect()),
    );
    m.insert(
        "Lin1.bias".into(),
        t(vec![4], vec![0.5, -0.0, f32::MIN_POSITIVE, 1e-45]),
    );
    m.insert("Mlp.0.weight".into(), t(vec![1, 1], vec![f32::MAX]));
    m.insert("scalar".into(), t(vec![], vec![-7.25]));
    m.insert("empty".into(), t(vec![0, 3], vec![]));
    m.insert(
        "Emb.weight".into(),
        t(vec![2, 2, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
    );
    m
}

#[test]
fn round_trip_through_a_file() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("model.safetensors");
    let meta = vec![
        ("format".to_string(), "pt".to_string()),
        ("nrp".to_string(), "seed=0 \"quoted\"".to_string()),
    ];
    write_safetensors(&path, &sample(), &meta).unwrap();
    assert_eq!(entries(&dir), ["model.safetensors"]); // no temporary file left behind
    let back = read_safetensors(&path).unwrap();
    assert_eq!(back, sample());
    let bytes = fs::read(&path).unwrap();
    let (_, meta_back) = parse_safetensors(&bytes, "x").unwrap();
    assert_eq!(meta_back, meta);
    // Layout: header length is a multiple of 8, data in name order right after it.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0);
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(header.starts_with(r#"{"__metadata__":{"format":"pt","nrp":"seed=0 \"quoted\""},"Emb.weight":{"dtype":"F32","shape":[2,2,2],"data_offsets":[0,32]},"Lin1.bias":"#));
    assert_eq!(bytes.len(), 8 + n + 4 * (12 + 4 + 1 + 1 + 8));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_map_and_no_metadata() {
    let bytes = serialize_safetensors(&ParamMap::new(), &[]).unwrap();
    assert_eq!(&bytes[..8], &8u64.to_le_bytes());
    assert_eq!(&bytes[8..], b"{}      ");
    assert!(read_safetensors_bytes(&bytes, "e").unwrap().is_empty());
}

#[test]
fn reads_other_dtypes_and_layouts() {
    // F64, F16, BF16, tensors stored out of name order, a gap, trailing bytes, padding spaces,
    // __metadata__ at the end, zero-length tensors sharing an offset.
    let mut data = Vec::new();
    data.extend_from_slice(&0x3c00u16.to_le_bytes()); // f16 1.0
    data.extend_from_slice(&0xc000u16.to_le_bytes()); // f16 -2.0
    data.extend_from_slice(&[0xAA, 0xBB]); // gap
    data.extend_from_slice(&0.1f64.to_le_bytes());
    data.extend_from_slice(&0x3f80u16.to_le_bytes()); // bf16 1.0
    data.extend_from_slice(&0x4049u16.to_le_bytes()); // bf16 3.140625
    data.extend_from_slice(&[0, 0, 0, 0]); // trailing
    let header = r#"{"z":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},
        "a":{"dtype":"F64","shape":[1,1],"data_offsets":[6,14]},
        "m":{"dtype":"BF16","shape":[2],"data_offsets":[14,18]},
        "e1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},
        "e2":{"dtype":"F16","shape":[3,0],"data_offsets":[4,4]},
        "__metadata__":{"k":"v","n":3}}      "#;
    let m = read_safetensors_bytes(&file(header, &data), "x").unwrap();
    assert_eq!(m["z"].data, vec![1.0, -2.0]);
    assert_eq!(m["a"].data, vec![0.1f64 as f32]);
    assert_eq!(m["a"].shape, vec![1, 1]);
    assert_eq!(m["m"].data, vec![1.0, 3.140625]);
    assert_eq!(m["e2"].shape, vec![3, 0]);
    assert!(m["e1"].data.is_empty());
    let (_, meta) = parse_safetensors(&file(header, &data), "x").unwrap();
    assert_eq!(meta, vec![("k".to_string(), "v".to_string())]);
}

#[test]
fn truncated_or_bad_header_length() {
    assert!(read_err(b"").contains("too short"));
    assert!(read_err(&[1, 0, 0]).contains("too short"));
    let good = serialize_safetensors(&sample(), &[]).unwrap();
    // Cut inside the header.
    assert!(read_err(&good[..20]).contains("header length"));
    // Cut inside the data.
    let e = read_err(&good[..good.len() - 1]);
    assert!(e.contains("outside the") && e.contains("truncated"), "{e}");
    // Absurd header lengths do not overflow or allocate.
    let mut huge = good.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(read_err(&huge).contains("header length"));
    // A header length pointing before the end of the JSON.
    let mut short = good.clone();
    short[..8].copy_from_slice(&10u64.to_le_bytes());
    assert!(read_err(&short).contains("invalid JSON header"));
}

#[test]
fn bad_json_headers() {
    assert!(read_err(&file("{not json}", &[])).contains("invalid JSON header"));
    assert!(read_err(&file("", &[])).contains("invalid JSON header"));
    assert!(read_err(&file("{\"a\":1", &[])).contains("invalid JSON header"));
    let mut bad_utf8 = file("{\"\u{e9}\":1}", &[]);
    bad_utf8[11] = 0xff;
    assert!(read_err(&bad_utf8).contains("UTF-8"));
    assert!(read_err(&file("[1, 2]", &[])).contains("not a JSON object"));
    assert!(
        read_err(&file(r#"{"a": 3}"#, &[])).contains("tensor 'a': header entry is not an object")
    );
    // Padding must be JSON white space (the format pads with spaces).
    assert!(read_err(&file("{}\0\0", &[])).contains("invalid JSON header"));
}

#[test]
fn bad_tensor_entries() {
    let d = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let e = |h: &str| read_err(&file(h, &d));
    assert!(
        e(r#"{"w":{"shape":[6],"data_offsets":[0,24]}}"#)
            .contains("tensor 'w': missing or non-string 'dtype'")
    );
    assert!(e(r#"{"w":{"dtype":4,"shape":[6],"data_offsets":[0,24]}}"#).contains("'dtype'"));
    assert!(e(r#"{"w":{"dtype":"F32","data_offsets":[0,24]}}"#).contains("'shape'"));
    assert!(
        e(r#"{"w":{"dtype":"F32","shape":[-6],"data_offsets":[0,24]}}"#)
            .contains("non-negative integers")
    );
    assert!(
        e(r#"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,24]}}"#)
            .contains("non-negative integers")
    );
    assert!(e(r#"{"w":{"dtype":"F32","shape":[6]}}"#).contains("'data_offsets'"));
    assert!(e(r#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[0]}}"#).contains("[begin, end]"));
    assert!(
        e(r#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,24,3]}}"#).contains("[begin, end]")
    );
    assert!(
        e(r#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,"24"]}}"#)
            .contains("non-negative integers")
    );
    assert!(
        e(r#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[24,0]}}"#)
            .contains("end before they begin")
    );
    // Duplicate names, as JSON allows them textually.
    let dup = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    assert!(e(dup).contains("tensor 'w': appears twice"));
    let twice = r#"{"__metadata__":{},"__metadata__":{}}"#;
    assert!(e(twice).contains("'__metadata__' appears twice"));
}

#[test]
fn offsets_out_of_range() {
    let d = f32_bytes(&[1.0, 2.0]);
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#,
        &d,
    ));
    assert!(
        e.contains("tensor 'w'") && e.contains("outside the 8 data bytes"),
        "{e}"
    );
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,18446744073709551619]}}"#,
        &d,
    ));
    assert!(e.contains("tensor 'w'"), "{e}");
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[1e300,1e300]}}"#,
        &d,
    ));
    assert!(e.contains("non-negative integers"), "{e}");
}

#[test]
fn wrong_byte_count() {
    let d = f32_bytes(&[1.0; 6]);
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#,
        &d,
    ));
    assert!(
        e.contains("tensor 'w'") && e.contains("hold 20 bytes") && e.contains("needs 24"),
        "{e}"
    );
    let e = read_err(&file(
        r#"{"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}}"#,
        &d,
    ));
    assert!(e.contains("needs 12"), "{e}");
    // A shape whose element count overflows is an error, not a panic.
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,24]}}"#,
        &d,
    ));
    assert!(e.contains("more than fits in memory"), "{e}");
    let e = read_err(&file(
        r#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,4]}}"#,
        &d,
    ));
    assert!(e.contains("needs 0"), "{e}");
}

#[test]
fn unknown_dtype_names_tensor_and_dtype() {
    let d = [0u8; 16];
    for dtype in ["I64", "U8", "BOOL", "F8_E4M3", "C64", "f32", ""] {
        let h = format!(r#"{{"Emb.idx":{{"dtype":"{dtype}","shape":[2],"data_offsets":[0,16]}}}}"#);
        let e = read_err(&file(&h, &d));
        assert!(
            e.contains(&format!("tensor 'Emb.idx': dtype {dtype} is not supported")),
            "{e}"
        );
    }
}

#[test]
fn overlapping_tensors() {
    let d = f32_bytes(&[0.0; 6]);
    let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    let e = read_err(&file(h, &d));
    assert!(
        e.contains("'a' (bytes 0..16) and 'b' (bytes 8..24) overlap"),
        "{e}"
    );
    let same = r#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#;
    assert!(read_err(&file(same, &d)).contains("overlap"));
    let inside = r#"{"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[2],"data_offsets":[20,24]}}"#;
    assert!(read_err(&file(inside, &d)).contains("overlap"));
    // Touching ranges are fine.
    let touching = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    assert!(read_safetensors_bytes(&file(touching, &d), "x").is_ok());
}

#[test]
fn read_errors_name_the_file() {
    let e = read_safetensors(Path::new("/nonexistent/dir/model.safetensors")).unwrap_err();
    assert!(
        e.message
            .starts_with("/nonexistent/dir/model.safetensors: cannot read"),
        "{e}"
    );
    assert_eq!(e.to_string(), e.message);
}

#[test]
fn writer_rejects_inconsistent_input() {
    let mut m = ParamMap::new();
    m.insert(
        "Lin1.weight".into(),
        ParamTensor {
            shape: vec![2, 3],
            data: vec![0.0; 5],
        },
    );
    let e = serialize_safetensors(&m, &[]).unwrap_err();
    assert!(
        e.message
            .contains("tensor 'Lin1.weight': shape [2, 3] does not match its 5 values")
    );
    let mut m = ParamMap::new();
    m.insert("__metadata__".into(), ParamTensor::zeros(&[1]));
    assert!(
        serialize_safetensors(&m, &[])
            .unwrap_err()
            .message
            .contains("__metadata__")
    );
    let meta = vec![
        ("k".to_string(), "1".to_string()),
        ("k".to_string(), "2".to_string()),
    ];
    let e = serialize_safetensors(&ParamMap::new(), &meta).unwrap_err();
    assert!(e.message.contains("metadata key 'k' appears twice"));
}

#[test]
fn failed_write_keeps_the_old_file_and_leaves_no_temporary() {
    let dir = temp_dir("atomic");
    let path = dir.join("ckpt.safetensors");
    write_safetensors(&path, &sample(), &[]).unwrap();
    let old = fs::read(&path).unwrap();

    // Invalid input: nothing is written at all.
    let mut bad = sample();
    bad.insert(
        "x".into(),
        ParamTensor {
            shape: vec![3],
            data: vec![1.0],
        },
    );
    let e = write_safetensors(&path, &bad, &[]).unwrap_err();
    assert!(e.message.starts_with(&path.display().to_string()), "{e}");
    assert_eq!(fs::read(&path).unwrap(), old);
    assert_eq!(entries(&dir), ["ckpt.safetensors"]);

    // The final rename fails (the target is a non-empty directory): the temporary file, which
    // was complete, is removed and the directory is untouched.
    let blocked = dir.join("blocked.safetensors");
    fs::create_dir(&blocked).unwrap();
    fs::write(blocked.join("keep"), b"x").unwrap();
    let e = write_safetensors(&blocked, &sample(), &[]).unwrap_err();
    assert!(e.message.contains("cannot rename"), "{e}");
    assert_eq!(entries(&dir), ["blocked.safetensors", "ckpt.safetensors"]);
    assert_eq!(entries(&blocked), ["keep"]);

    // A missing directory: the temporary file cannot even be created.
    let e = write_safetensors(&dir.join("no/such/dir/m.safetensors"), &sample(), &[]).unwrap_err();
    assert!(e.message.contains("cannot create temporary file"), "{e}");

    // A successful overwrite replaces the content in one step.
    let mut small = ParamMap::new();
    small.insert("only".into(), ParamTensor::zeros(&[2]));
    write_safetensors(&path, &small, &[]).unwrap();
    assert_eq!(read_safetensors(&path).unwrap(), small);
    assert_eq!(entries(&dir), ["blocked.safetensors", "ckpt.safetensors"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn read_only_directory_keeps_the_old_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("readonly");
    let path = dir.join("ckpt.safetensors");
    write_safetensors(&path, &sample(), &[]).unwrap();
    let old = fs::read(&path).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    // Privileged users (root in CI containers) ignore directory permissions; then this
    // scenario cannot be produced and the other atomicity test covers the failure paths.
    let privileged = fs::write(dir.join("probe"), b"").is_ok();
    if !privileged {
        let mut other = ParamMap::new();
        other.insert("w".into(), ParamTensor::zeros(&[3]));
        let e = write_safetensors(&path, &other, &[]).unwrap_err();
        assert!(e.message.contains("cannot create temporary file"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), old);
        assert_eq!(entries(&dir), ["ckpt.safetensors"]);
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relative_paths_and_bare_file_names() {
    let e = write_safetensors(Path::new("/"), &sample(), &[]).unwrap_err();
    assert!(e.message.contains("not a file path"), "{e}");
    let e = write_safetensors(Path::new(".."), &sample(), &[]).unwrap_err();
    assert!(e.message.contains("not a file path"), "{e}");
}
