//! Trained weights are never lost or misplaced (issue: "never lose a trained model"): `--save`
//! targets are checked before any work, a failing statement after `?fit` rescues the weights,
//! Ctrl-C saves and exits 130, and `--resume` continues bit for bit.

mod common;
use common::nrp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh folder holding a tiny database and programs.
fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nrp-ckpt-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("db")).unwrap();
    let mut x = String::from("v,a,b\n");
    let mut y = String::from("v,y\n");
    for v in 0..40 {
        let (a, b) = ((v % 7) as f32 / 7.0, (v % 5) as f32 / 5.0);
        x.push_str(&format!("{v},{a},{b}\n"));
        y.push_str(&format!("{v},{}\n", usize::from(a > b)));
    }
    std::fs::write(d.join("db/X.csv"), x).unwrap();
    std::fs::write(d.join("db/Y.csv"), y).unwrap();
    d
}

fn program(dir: &Path, epochs: usize, tail: &str) -> PathBuf {
    let p = dir.join("p.nrp");
    std::fs::write(
        &p,
        format!(
            "L1 = Linear(2, 8) .\nL2 = Linear(8, 2) .\n\
             Out(v; L2(Dropout(0.3)(ReLU()(L1(x))))) :- X(v; x) .\n\
             ?fit <epochs={epochs}, lr=0.05>\n\
             Loss(; CrossEntropyLoss()(p, y)) :- Out(v; p), Y(v; y) .\n\
             ?pred Pred(v; ArgMax()(p)) :- Out(v; p) .\n{tail}"
        ),
    )
    .unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The weights of a checkpoint (optimiser state left out), by name.
fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    nrp_params_read(path)
        .into_iter()
        .filter(|(n, _)| !n.starts_with(nrp_params::OPTIMIZER_PREFIX))
        .collect()
}

/// Every tensor of a safetensors file, by name.
fn nrp_params_read(path: &Path) -> Vec<(String, Vec<f32>)> {
    nrp_params::read_safetensors(path)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.data))
        .collect()
}

#[test]
fn save_targets_are_checked_before_training() {
    let d = workdir("targets");
    program(&d, 5, "");
    let cases: Vec<(&str, &str)> = vec![
        ("missing/w.safetensors", "the folder missing does not exist"),
        (".", "is a directory"),
        ("/dev/full", "is a device, not a regular file"),
    ];
    for (target, message) in cases {
        let o = nrp(&d, &["run", "p.nrp", "--db", "db", "--save", target]);
        assert_eq!(o.status.code(), Some(1), "{target}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{target}: {}", stderr(&o));
        // Refused before the data is read, so nothing trained.
        assert!(!stderr(&o).contains("epoch"), "{target}: {}", stderr(&o));
    }
    #[cfg(unix)]
    {
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let o = nrp(&d, &["run", "p.nrp", "--db", "db", "--save", "fifo"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));

        // A symbolic link: the file it names is written, the link stays.
        std::fs::create_dir_all(d.join("store")).unwrap();
        std::os::unix::fs::symlink("store/real.safetensors", d.join("link.safetensors")).unwrap();
        let o = nrp(
            &d,
            &["run", "p.nrp", "--db", "db", "--save", "link.safetensors"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            std::fs::symlink_metadata(d.join("link.safetensors"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(!tensors(&d.join("store/real.safetensors")).is_empty());
    }
    let o = nrp(&d, &["run", "p.nrp", "--db", "db", "--save-every", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--save"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_error_after_fit_rescues_the_weights() {
    let d = workdir("rescue");
    // `OneHot(2)(c + 5)` fails at run time, after training.
    program(&d, 5, "?pred Bad(v; OneHot(2)(c + 5)) :- Pred(v; c) .\n");
    let o = nrp(&d, &["run", "p.nrp", "--db", "db"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("in a rule for `Bad`"), "{err}");
    assert!(
        err.contains("the trained weights were saved to ./p.rescue.safetensors"),
        "{err}"
    );
    let rescued = tensors(&d.join("p.rescue.safetensors"));
    assert_eq!(rescued.len(), 4, "{rescued:?}");

    // With --save, the weights are written right after ?fit, before the failing ?pred.
    let o = nrp(
        &d,
        &["run", "p.nrp", "--db", "db", "--save", "w.safetensors"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("trained weights are saved in w.safetensors"),
        "{}",
        stderr(&o)
    );
    assert_eq!(tensors(&d.join("w.safetensors")), rescued);

    // Evaluate-only: the rescued weights, no training.
    program(&d, 5, "?pred N(; count(v)) :- Pred(v; c) .\n");
    let o = nrp(
        &d,
        &[
            "run",
            "p.nrp",
            "--db",
            "db",
            "--load",
            "w.safetensors",
            "--no-fit",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("N = 40"));
    assert!(stderr(&o).contains("skipping ?fit Loss (--no-fit)"));
    let o = nrp(&d, &["run", "p.nrp", "--db", "db", "--no-fit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--load"), "{}", stderr(&o));

    // New data without labels: evaluation and queries need only the tables they read.
    std::fs::create_dir_all(d.join("new")).unwrap();
    std::fs::copy(d.join("db/X.csv"), d.join("new/X.csv")).unwrap();
    let o = nrp(
        &d,
        &[
            "run",
            "p.nrp",
            "--db",
            "new",
            "--load",
            "w.safetensors",
            "--no-fit",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("N = 40.0"));
    let o = nrp(
        &d,
        &[
            "query",
            "p.nrp",
            "--db",
            "new",
            "--relation",
            "Pred",
            "--load",
            "w.safetensors",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 41);
    // Training still needs the labels, and says which table is missing.
    let o = nrp(&d, &["run", "p.nrp", "--db", "new"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no table `Y`"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn stale_temporary_files_of_killed_saves_are_removed() {
    let d = workdir("stale");
    program(&d, 2, "");
    // A pid above the kernel's maximum never runs.
    let stale = d.join("w.safetensors.tmp-4194399-0");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let o = nrp(
        &d,
        &["run", "p.nrp", "--db", "db", "--save", "w.safetensors"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stale.exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// Ctrl-C in the middle of training saves a checkpoint and exits 130; `--resume` from it
/// ends with exactly the weights of an uninterrupted run (optimiser state and dropout stream
/// included).
#[cfg(unix)]
#[test]
fn ctrl_c_saves_and_resume_continues_bit_for_bit() {
    let d = workdir("ctrlc");
    let epochs = 200_000;
    program(&d, epochs, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args([
            "run",
            "p.nrp",
            "--db",
            "db",
            "--save",
            "b.safetensors",
            "--threads",
            "1",
        ])
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training has visibly started (the first progress line).
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().starts_with("epoch") {
            break;
        }
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    let stopped = nrp_params_read(&d.join("b.safetensors"));
    assert!(stopped.iter().any(|(n, _)| n.starts_with("__optimizer__/")));

    let o = nrp(
        &d,
        &[
            "run",
            "p.nrp",
            "--db",
            "db",
            "--resume",
            "b.safetensors",
            "--save",
            "c.safetensors",
            "--threads",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming ?fit Loss after epoch"));
    let o = nrp(
        &d,
        &[
            "run",
            "p.nrp",
            "--db",
            "db",
            "--save",
            "a.safetensors",
            "--threads",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        tensors(&d.join("a.safetensors")),
        tensors(&d.join("c.safetensors"))
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tensor_parameters_train_save_and_load() {
    // `Tensor` free parameters are trained like module weights, saved as `<Name>.weight`
    // with the shape as written (`[1]`, `[1, 2]`, `[2]`, inline `<Head>.<n>.weight`: `Out.2`,
    // after `Out.0` = `Linear` and `Out.1` = `Sigmoid`), and
    // loaded back: the reloaded program computes the trained values.
    let d = workdir("tensor");
    std::fs::write(
        d.join("p.nrp"),
        "Gate = Tensor(1) .\nBias = Tensor(1, 2, 0.5) .\nV = Tensor(2) .\n\
         Out(v; Linear(2, 2)(x) * Sigmoid(Gate) + Bias + V * Tensor(1, 3.0)) :- X(v; x) .\n\
         ?fit <epochs=20, lr=0.05>\n\
         Loss(; CrossEntropyLoss()(p, y)) :- Out(v; p), Y(v; y) .\n",
    )
    .unwrap();
    let run = nrp(
        &d,
        &["run", "p.nrp", "--db", "db", "--save", "w.safetensors"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let file = nrp_params::read_safetensors(&d.join("w.safetensors")).unwrap();
    let shapes: Vec<(&str, Vec<usize>)> = file
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("Bias.weight", vec![1, 2]),
            ("Gate.weight", vec![1]),
            ("Out.0.bias", vec![2]),
            ("Out.0.weight", vec![2, 2]),
            ("Out.2.weight", vec![1]),
            ("V.weight", vec![2]),
        ]
    );
    // Trained: every parameter moved from its constant initialisation.
    assert_ne!(file["Gate.weight"].data, [0.0]);
    assert_ne!(file["Bias.weight"].data, [0.5, 0.5]);
    assert_ne!(file["V.weight"].data, [0.0, 0.0]);
    assert_ne!(file["Out.2.weight"].data, [3.0]);
    // Loaded: the engine and the reference read the trained values.
    let query = |extra: &[&str]| {
        let mut args = vec![
            "query",
            "p.nrp",
            "--db",
            "db",
            "--relation",
            "Out",
            "--load",
            "w.safetensors",
        ];
        args.extend_from_slice(extra);
        let o = nrp(&d, &args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let (engine, reference) = (query(&[]), query(&["--reference"]));
    let row = |text: &str| -> Vec<f64> {
        let line = text.lines().nth(1).unwrap();
        line.split(',')
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let (e, r) = (row(&engine), row(&reference));
    let w = &file;
    let x = [0.0f64, 0.0]; // v = 0: a = b = 0
    let lin: Vec<f64> = (0..2)
        .map(|o| {
            (0..2)
                .map(|i| w["Out.0.weight"].data[o * 2 + i] as f64 * x[i])
                .sum::<f64>()
                + w["Out.0.bias"].data[o] as f64
        })
        .collect();
    let gate = 1.0 / (1.0 + (-(w["Gate.weight"].data[0] as f64)).exp());
    for j in 0..2 {
        let want = lin[j] * gate
            + w["Bias.weight"].data[j] as f64
            + w["V.weight"].data[j] as f64 * w["Out.2.weight"].data[0] as f64;
        assert!((e[j] - want).abs() < 1e-5, "engine {e:?}, want {want}");
        assert!((r[j] - want).abs() < 1e-6, "reference {r:?}, want {want}");
    }
}

/// A categorical encoder's code table travels with the weights: prediction on new data
/// maps each string to the code it was trained with, and an unseen string to the bucket
/// just past the table (LANGUAGE.md, "Encoders and decoders").
#[test]
fn code_tables_are_saved_and_reused_on_new_data() {
    let d = std::env::temp_dir().join(format!("nrp-ckpt-test-{}-codes", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for sub in ["db", "new"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("db/Users.csv"), "u,dept\n1,sales\n2,eng\n3,ops\n").unwrap();
    std::fs::write(d.join("db/Target.csv"), "u,y\n1,1.0\n2,2.0\n3,3.0\n").unwrap();
    // No `eng` (a table rebuilt from this data would code `ops` as 0) and a new `legal`.
    std::fs::write(d.join("new/Users.csv"), "u,dept\n7,ops\n8,legal\n9,sales\n").unwrap();
    std::fs::write(
        d.join("p.nrp"),
        "Dept = Embedding(4, 1) .\n\
         Score(u; [Dept(d)]) :- Users(u, d) .\n\
         ?fit <epochs=200, lr=0.1>\n\
         Loss(; MSELoss()(s, y)) :- Score(u; s), Target(u; y) .\n",
    )
    .unwrap();
    let o = nrp(
        &d,
        &["run", "p.nrp", "--db", "db", "--save", "w.safetensors"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ck = nrp_params::Checkpoint::read(&d.join("w.safetensors")).unwrap();
    assert_eq!(ck.codes["Dept"], ["eng", "ops", "sales"]);
    let rows = |args: &[&str]| {
        let o = nrp(&d, args);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let (u, e) = l.split_once(',').unwrap();
                (u.to_string(), e.parse::<f32>().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let q = [
        "query",
        "p.nrp",
        "--relation",
        "Score",
        "--load",
        "w.safetensors",
    ];
    let new = rows(&[&q[..], &["--db", "new"]].concat());
    let weight = &tensors(&d.join("w.safetensors"))[0].1;
    // ops → 1, legal → 3 (unseen: the bucket past the table), sales → 2.
    assert_eq!(
        new,
        [
            ("7".into(), weight[1]),
            ("8".into(), weight[3]),
            ("9".into(), weight[2])
        ]
    );
    // The trained codes fit the targets: ops was trained towards 3.
    assert!((weight[1] - 3.0).abs() < 0.1, "{weight:?}");
    // The reference evaluator reads the same table.
    let reference = rows(&[&q[..], &["--db", "new", "--reference"]].concat());
    for ((a, x), (b, y)) in new.iter().zip(&reference) {
        assert_eq!(a, b);
        assert!((x - y).abs() < 1e-6);
    }
    let _ = std::fs::remove_dir_all(&d);
}
