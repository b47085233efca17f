//! nrp-params against PyTorch: the committed fixtures were produced by
//! `tests/fixtures/make_fixtures.py` with torch 2.15 (see its docstring for the recipe format).
//! CI has no torch; these tests only read the fixtures.

use nrp_params::{
    CpuCapability, Init, ParamMap, ParamTensor, TorchRng, init_tensor, parse_safetensors,
    read_safetensors, serialize_safetensors,
};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Replays one recipe ("seed;op;op;...") with nrp's generator and initialisers.
fn replay(recipe: &str, cap: CpuCapability) -> Vec<f32> {
    let mut parts = recipe.split(';');
    let seed: u64 = parts.next().unwrap().parse().unwrap();
    let mut rng = TorchRng::with_capability(seed, cap);
    let mut out = Vec::new();
    for op in parts {
        let f: Vec<&str> = op.split_whitespace().collect();
        let int = |i: usize| f[i].parse::<usize>().unwrap();
        let float = |i: usize| f[i].parse::<f64>().unwrap();
        match f[0] {
            "normal" => {
                let mut v = vec![0.0; int(1)];
                rng.fill_normal(&mut v, float(2), float(3));
                out.extend(v);
            }
            "uniform" => {
                let mut v = vec![0.0; int(1)];
                rng.fill_uniform(&mut v, float(2), float(3));
                out.extend(v);
            }
            "rand" => out.extend((0..int(1)).map(|_| rng.next_f32())),
            "linear" | "linear_nobias" => {
                let (i, o) = (int(1), int(2));
                out.extend(
                    init_tensor(&mut rng, &[o, i], &Init::KaimingUniform { fan_in: i }).data,
                );
                if f[0] == "linear" {
                    out.extend(init_tensor(&mut rng, &[o], &Init::linear_bias(i)).data);
                }
            }
            "embedding" => {
                let (n, d) = (int(1), int(2));
                let mut v = vec![0.0; n * d];
                rng.fill_normal(&mut v, 0.0, 1.0);
                out.extend(v);
            }
            "layernorm" => {
                out.extend(init_tensor(&mut rng, &[int(1)], &Init::Ones).data);
                out.extend(init_tensor(&mut rng, &[int(1)], &Init::Zeros).data);
            }
            "words" => {
                for _ in 0..int(1) {
                    // randint over a 2^32 range takes random64() modulo 2^32: the low word.
                    let w = rng.random64() as u32;
                    out.push((w >> 16) as f32);
                    out.push((w & 0xffff) as f32);
                }
            }
            other => panic!("unknown op {other}"),
        }
    }
    out
}

/// Compares every case of a reference file bit for bit; returns the number of cases.
fn check_reference(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let (tensors, meta) = parse_safetensors(&bytes, &path.display().to_string()).unwrap();
    let get = |k: &str| meta.iter().find(|(mk, _)| mk == k).map(|(_, v)| v.as_str());
    let cap = get("cpu_capability")
        .and_then(CpuCapability::from_torch_name)
        .expect("cpu_capability metadata");
    let mut cases = 0;
    let mut failures = Vec::new();
    for (key, recipe) in &meta {
        let Some(name) = key.strip_prefix("case:") else {
            continue;
        };
        cases += 1;
        let want = &tensors[name].data;
        let got = replay(recipe, cap);
        if got.len() != want.len() {
            failures.push(format!(
                "{name}: {} values, torch has {}",
                got.len(),
                want.len()
            ));
            continue;
        }
        let bad: Vec<usize> = (0..got.len())
            .filter(|&i| got[i].to_bits() != want[i].to_bits())
            .collect();
        if let Some(&i) = bad.first() {
            failures.push(format!(
                "{name}: {} of {} values differ; first at {i}: nrp {:e} torch {:e}",
                bad.len(),
                got.len(),
                got[i],
                want[i]
            ));
        }
    }
    assert!(failures.is_empty(), "{cap:?}:\n{}", failures.join("\n"));
    cases
}

#[test]
fn init_and_sampling_are_bit_exact_with_torch_avx2_kernels() {
    let cases = check_reference(&fixture("torch_reference.safetensors"));
    assert_eq!(cases, 7);
}

#[test]
fn init_and_sampling_are_bit_exact_with_torch_default_kernels() {
    let cases = check_reference(&fixture("torch_reference_default.safetensors"));
    assert_eq!(cases, 7);
}

/// The brief's example, spelled out: `torch.manual_seed(0); nn.Linear(1433, 16)` etc.
#[test]
fn linear_layers_match_torch_tensors() {
    let refs = read_safetensors(&fixture("torch_reference.safetensors")).unwrap();
    let want = &refs["model_seed0"].data;
    let mut rng = TorchRng::new(0);
    let mut got = Vec::new();
    for (i, o) in [(1433, 16), (16, 7)] {
        let w = init_tensor(&mut rng, &[o, i], &Init::KaimingUniform { fan_in: i });
        assert_eq!(w.shape, vec![o, i]);
        got.extend(w.data);
        got.extend(init_tensor(&mut rng, &[o], &Init::linear_bias(i)).data);
    }
    for (n, d) in [(10, 4), (3, 2)] {
        got.extend(init_tensor(&mut rng, &[n, d], &Init::embedding()).data);
    }
    let mut v = vec![0.0; 100];
    rng.fill_normal(&mut v, 0.0, 1.0);
    got.extend(v);
    assert_eq!(got.len(), want.len());
    assert!(
        got.iter()
            .zip(want)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn half_and_double_conversions_match_torch() {
    let refs = read_safetensors(&fixture("torch_reference.safetensors")).unwrap();
    for name in ["conv.f16", "conv.bf16", "conv.f64"] {
        let got = &refs[name];
        let want = &refs[&format!("{name}.as_f32")];
        assert_eq!(got.shape, want.shape, "{name}");
        for (a, b) in got.data.iter().zip(&want.data) {
            // torch turns every half NaN into 0x7fffffff; nrp keeps the payload, as the
            // hardware conversion does. Both are NaN; nothing else may differ.
            if a.is_nan() || b.is_nan() {
                assert!(a.is_nan() && b.is_nan(), "{name}: {a:e} vs {b:e}");
            } else {
                assert_eq!(a.to_bits(), b.to_bits(), "{name}: {a:e} vs {b:e}");
            }
        }
    }
    assert_eq!(refs["conv.f64"].shape, vec![2, 5]);
}

fn python_tensors() -> ParamMap {
    let mut m = ParamMap::new();
    let t = |shape: Vec<usize>, data: Vec<f32>| ParamTensor::new(shape, data).unwrap();
    m.insert("b".into(), t(vec![2, 3], vec![1.0; 6]));
    m.insert(
        "a.weight".into(),
        t(vec![5], (0..5).map(|i| i as f32 / 3.0).collect()),
    );
    m.insert("scalar".into(), t(vec![], vec![1.5]));
    m.insert("empty".into(), t(vec![0, 4], vec![]));
    m.insert(
        "Lin1.bias".into(),
        t(vec![3], vec![-0.0, f32::INFINITY, 1e-45]),
    );
    m
}

#[test]
fn reads_files_written_by_python_safetensors() {
    for file in [
        "python_written.safetensors",
        "python_written_nometa.safetensors",
    ] {
        let got = read_safetensors(&fixture(file)).unwrap();
        let want = python_tensors();
        assert_eq!(got.len(), want.len());
        for (name, t) in &want {
            let g = &got[name];
            assert_eq!(g.shape, t.shape, "{name}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&g.data), bits(&t.data), "{name}");
        }
    }
}

#[test]
fn writes_the_same_bytes_as_python_safetensors() {
    let meta = vec![("format".to_string(), "pt".to_string())];
    let ours = serialize_safetensors(&python_tensors(), &meta).unwrap();
    assert_eq!(
        ours,
        std::fs::read(fixture("python_written.safetensors")).unwrap()
    );
    let ours = serialize_safetensors(&python_tensors(), &[]).unwrap();
    assert_eq!(
        ours,
        std::fs::read(fixture("python_written_nometa.safetensors")).unwrap()
    );
}

/// The large verification file (`make_fixtures.py --big OUT`; about 30 MB, not committed):
/// `NRP_TORCH_REF=OUT cargo test -p nrp-params --test torch_parity -- --ignored`.
#[test]
#[ignore = "needs NRP_TORCH_REF, a file made by make_fixtures.py --big"]
fn big_reference_file_is_bit_exact() {
    let path = std::env::var("NRP_TORCH_REF").expect("set NRP_TORCH_REF");
    let cases = check_reference(Path::new(&path));
    eprintln!("{cases} cases bit-exact");
}
