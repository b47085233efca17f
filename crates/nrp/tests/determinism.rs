//! `nrp run` determinism and checkpoints, through the binary: the same `--seed` and
//! `--threads` give byte-identical output apart from timings (the printed `?pred` values,
//! the JSON metrics, the CSV files of `--out`); another seed gives other numbers;
//! `--save` then `--load` reproduces the predictions exactly; `--save` writes atomically
//! (no temporary file left behind, an existing file replaced whole, a failed save leaves
//! nothing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh directory under the system's temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nrp-determinism-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small node-classification database: features, a graph, train/test labels.
fn write_db(dir: &Path) {
    let mut state = 0x1234_5678_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let n = 40;
    let mut feat = String::from("v,f0,f1,f2,f3\n");
    let mut labels = vec![];
    for v in 0..n {
        let class = v % 3;
        labels.push(class);
        let f: Vec<String> = (0..4)
            .map(|k| {
                format!(
                    "{}",
                    if k == class { 1.0 } else { 0.0 } + (next() % 9) as f64 / 8.0 - 0.5
                )
            })
            .collect();
        feat.push_str(&format!("{v},{}\n", f.join(",")));
    }
    let mut edge = String::from("a,b\n");
    for v in 0..n {
        for u in [(v + 3) % n, (v + n - 3) % n, next() % n] {
            edge.push_str(&format!("{v},{u}\n"));
        }
    }
    let (mut train, mut test) = (String::from("v,y\n"), String::from("v,y\n"));
    for (v, label) in labels.iter().enumerate() {
        let line = format!("{v},{label}\n");
        if v % 4 == 0 {
            test.push_str(&line)
        } else {
            train.push_str(&line)
        }
    }
    for (name, text) in [
        ("Feat", feat),
        ("Edge", edge),
        ("Train", train),
        ("Test", test),
    ] {
        std::fs::write(dir.join(format!("{name}.csv")), text).unwrap();
    }
}

const DEFINITIONS: &str = "\
Lin1 = Linear(4, 8) .
Lin2 = Linear(8, 3) .
D(v; count()) :- Edge(_, v) .
N(u, v; 1 / sqrt(a * b)) :- Edge(u, v), D(u; a), D(v; b) .
H(v; Dropout(0.3)(ReLU()(Lin1(sum(x * n))))) :- Feat(u; x), N(u, v; n) .
Out(v; Lin2(sum(h * n))) :- H(u; h), N(u, v; n) .
";

const FIT: &str = "\
?fit <epochs=25, lr=0.03, weight_decay=5e-4>
Loss(; CrossEntropyLoss()(o, y)) :- Out(v; o), Train(v; y) .
";

const PREDICT: &str = "\
?pred Pred(v; ArgMax()(o)) :- Out(v; o) .
?pred Acc(; mean((p == y) * 1.0)) :- Pred(v; p), Test(v; y) .
?pred Logits(v; o) :- Out(v; o) .
";

struct Output {
    status: i32,
    stdout: String,
    stderr: String,
    /// The `--out` files, by name.
    files: Vec<(String, String)>,
}

fn nrp_run(dir: &Path, program: &str, args: &[&str]) -> Output {
    std::fs::write(dir.join("program.nrp"), program).unwrap();
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args(["run", "program.nrp", "--db", "db", "--out", "out"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run nrp");
    let mut files = vec![];
    if let Ok(entries) = std::fs::read_dir(&out_dir) {
        for e in entries {
            let p = e.unwrap().path();
            files.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    files.sort();
    Output {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files,
    }
}

fn setup() -> PathBuf {
    let dir = temp_dir("run");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    write_db(&dir.join("db"));
    dir
}

/// Timing and memory fields of the `--json` line (they vary from run to run).
const VOLATILE: &[&str] = &[
    "ms_per_epoch",
    "ms_per_epoch_incl_eval",
    "total_train_seconds",
    "load_seconds",
    "peak_rss_mb",
];

/// The stdout with the JSON line's volatile fields removed (the JSON re-serialised).
fn stable(stdout: &str) -> String {
    stdout
        .lines()
        .map(|l| {
            if !l.starts_with('{') {
                return l.to_string();
            }
            let v = nrp_params::json::parse(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e:?}"));
            let obj = v.as_object().expect("a JSON object");
            let kept: Vec<(String, nrp_params::json::Value)> = obj
                .iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .cloned()
                .collect();
            for k in VOLATILE[..4].iter() {
                assert!(
                    obj.iter().any(|(n, _)| n == k),
                    "the JSON line has `{k}`: {l}"
                );
            }
            nrp_params::json::Value::Object(kept).to_compact()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON line's field `key`.
fn json_field(stdout: &str, key: &str) -> nrp_params::json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let v = nrp_params::json::parse(line).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no `{key}` in {line}"))
        .1
        .clone()
}

fn ok(o: &Output) -> &Output {
    assert_eq!(o.status, 0, "nrp run failed:\n{}{}", o.stdout, o.stderr);
    o
}

#[test]
fn same_seed_and_threads_give_identical_output() {
    let dir = setup();
    let program = format!("{DEFINITIONS}{FIT}{PREDICT}");
    for threads in ["1", "2"] {
        let a = nrp_run(
            &dir,
            &program,
            &["--seed", "3", "--threads", threads, "--json"],
        );
        let b = nrp_run(
            &dir,
            &program,
            &["--seed", "3", "--threads", threads, "--json"],
        );
        ok(&a);
        ok(&b);
        assert!(a.stdout.contains("Acc = "), "{}", a.stdout);
        assert_eq!(stable(&a.stdout), stable(&b.stdout), "--threads {threads}");
        assert_eq!(
            a.files, b.files,
            "--threads {threads}: the --out files differ"
        );
        assert_eq!(
            a.files.len(),
            2,
            "Pred.csv and Logits.csv: {:?}",
            a.files.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        // The progress lines (loss per epoch) agree too, apart from the timing summary.
        let progress = |s: &str| {
            s.lines()
                .filter(|l| l.starts_with("epoch"))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(progress(&a.stderr), progress(&b.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn different_seeds_give_different_results() {
    let dir = setup();
    let program = format!("{DEFINITIONS}{FIT}{PREDICT}");
    let a = nrp_run(&dir, &program, &["--seed", "3", "--threads", "2", "--json"]);
    let b = nrp_run(&dir, &program, &["--seed", "4", "--threads", "2", "--json"]);
    ok(&a);
    ok(&b);
    assert_ne!(
        json_field(&a.stdout, "final_loss").to_compact(),
        json_field(&b.stdout, "final_loss").to_compact()
    );
    let logits = |o: &Output| {
        o.files
            .iter()
            .find(|f| f.0 == "Logits.csv")
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(logits(&a), logits(&b));
    // Without `--seed` the seed is 0, every time.
    let c = nrp_run(&dir, &program, &["--threads", "2", "--json"]);
    let d = nrp_run(&dir, &program, &["--seed", "0", "--threads", "2", "--json"]);
    assert_eq!(stable(&ok(&c).stdout), stable(&ok(&d).stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names in `dir` other than the expected ones (temporary files left behind).
fn strays(dir: &Path, expected: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !expected.contains(&n.as_str()))
        .collect()
}

#[test]
fn save_then_load_reproduces_predictions() {
    let dir = setup();
    std::fs::create_dir_all(dir.join("ckpt")).unwrap();
    let trained = nrp_run(
        &dir,
        &format!("{DEFINITIONS}{FIT}{PREDICT}"),
        &[
            "--seed",
            "5",
            "--threads",
            "2",
            "--save",
            "ckpt/model.safetensors",
        ],
    );
    ok(&trained);
    assert!(
        trained
            .stdout
            .contains("saved parameters to ckpt/model.safetensors"),
        "{}",
        trained.stdout
    );
    assert_eq!(
        strays(&dir.join("ckpt"), &["model.safetensors"]),
        Vec::<String>::new(),
        "temporary files left"
    );
    // The same definitions without `?fit`, the trained weights loaded: the same predictions
    // to the bit (another seed, to show that nothing is initialised from it).
    let loaded = nrp_run(
        &dir,
        &format!("{DEFINITIONS}{PREDICT}"),
        &[
            "--seed",
            "99",
            "--threads",
            "1",
            "--load",
            "ckpt/model.safetensors",
        ],
    );
    ok(&loaded);
    assert_eq!(trained.files, loaded.files);
    let acc = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("Acc = "))
            .unwrap()
            .to_string()
    };
    assert_eq!(acc(&trained.stdout), acc(&loaded.stdout));
    // Loading and saving again gives the same bytes (nothing was trained).
    let again = nrp_run(
        &dir,
        &format!("{DEFINITIONS}{PREDICT}"),
        &[
            "--load",
            "ckpt/model.safetensors",
            "--save",
            "ckpt/copy.safetensors",
        ],
    );
    ok(&again);
    assert_eq!(
        std::fs::read(dir.join("ckpt/model.safetensors")).unwrap(),
        std::fs::read(dir.join("ckpt/copy.safetensors")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_is_atomic() {
    let dir = setup();
    let program = format!("{DEFINITIONS}{FIT}{PREDICT}");
    std::fs::create_dir_all(dir.join("ckpt")).unwrap();
    // Over an existing file: replaced whole, nothing else left.
    std::fs::write(dir.join("ckpt/model.safetensors"), b"stale contents").unwrap();
    ok(&nrp_run(
        &dir,
        &program,
        &["--save", "ckpt/model.safetensors"],
    ));
    let bytes = std::fs::read(dir.join("ckpt/model.safetensors")).unwrap();
    assert!(
        nrp_params::read_safetensors_bytes(&bytes, "model").is_ok(),
        "a complete checkpoint"
    );
    assert_eq!(
        strays(&dir.join("ckpt"), &["model.safetensors"]),
        Vec::<String>::new()
    );
    // A save that cannot happen (the target is a directory): an error, and no temporary
    // file left next to it; the directory is untouched.
    std::fs::create_dir_all(dir.join("ckpt/isadir")).unwrap();
    let failed = nrp_run(&dir, &program, &["--save", "ckpt/isadir"]);
    assert_eq!(failed.status, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains("ckpt/isadir"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("panicked"), "{}", failed.stderr);
    assert_eq!(
        strays(&dir.join("ckpt"), &["model.safetensors", "isadir"]),
        Vec::<String>::new()
    );
    assert!(
        std::fs::read_dir(dir.join("ckpt/isadir"))
            .unwrap()
            .next()
            .is_none()
    );
    // Into a directory that does not exist: an error, nothing created.
    let failed = nrp_run(&dir, &program, &["--save", "missing/model.safetensors"]);
    assert_eq!(failed.status, 1, "{}{}", failed.stdout, failed.stderr);
    assert!(!dir.join("missing").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
