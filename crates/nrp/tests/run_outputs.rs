//! What `nrp run` writes besides its stdout: `--metrics FILE` (the training curve, one row
//! per epoch, CSV or JSON lines), `--plot FILE.svg` (the curves drawn) and `--write-db
//! FILE` (the predicted relations as tables of a SQLite file).

mod common;
use common::nrp;

use std::path::{Path, PathBuf};

/// A fresh folder with a small regression problem: `y = 2x - 1` from a `Linear(1, 1)`,
/// two `?fit`s (10 and 5 epochs) and a zero-ary metric, evaluated after each epoch of the
/// first fit only. Removed when dropped.
struct Case(PathBuf);

impl Case {
    fn new(name: &str) -> Case {
        let dir =
            std::env::temp_dir().join(format!("nrp-run-outputs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let mut rows = String::from("k,x,y\n");
        for k in 0..8 {
            let x = k as f64 / 4.0;
            rows.push_str(&format!("{k},{x},{}\n", 2.0 * x - 1.0));
        }
        std::fs::write(dir.join("db/P.csv"), rows).unwrap();
        std::fs::write(
            dir.join("program.nrp"),
            "L = Linear(1, 1) .\n\
             Out(k; L([x])) :- P(k, x, _) .\n\
             Y(k; [y]) :- P(k, _, y) .\n\
             ?fit <epochs=10, lr=0.1, eval_every=1>\n\
             Loss(; MSELoss()(p, y)) :- Out(k; p), Y(k; y) .\n\
             ?pred Err(; mean(abs(p - y))) :- Out(k; p), Y(k; y) .\n\
             ?fit <epochs=5, lr=0.05>\n\
             Loss2(; MSELoss()(p, y)) :- Out(k; p), Y(k; y) .\n\
             ?pred Pred(k, x; p) :- Out(k; p), P(k, x, _) .\n",
        )
        .unwrap();
        Case(dir)
    }

    /// `nrp run program.nrp --db <db> extra…`, which must succeed: its stdout.
    fn run(&self, db: &str, extra: &[&str]) -> String {
        let out = nrp(
            &self.0,
            &[&["run", "program.nrp", "--db", db], extra].concat(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The same, which must fail with exit 1: its stderr.
    fn fail(&self, db: &str, extra: &[&str]) -> String {
        let out = nrp(
            &self.0,
            &[&["run", "program.nrp", "--db", db], extra].concat(),
        );
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn metrics_csv_has_a_row_per_epoch_of_every_fit() {
    let case = Case::new("csv");
    let stdout = case.run("db", &["--metrics", "curve.csv", "--json"]);
    let text = case.read("curve.csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "fit,epoch,loss,step_ms,Err");
    assert_eq!(lines.len(), 1 + 10 + 5);
    let row = |i: usize| lines[i].split(',').collect::<Vec<_>>();
    assert_eq!(&row(1)[..2], ["1", "1"]);
    assert_eq!(&row(10)[..2], ["1", "10"]);
    assert_eq!(&row(11)[..2], ["2", "1"]);
    assert_eq!(&row(15)[..2], ["2", "5"]);
    for (i, line) in lines.iter().enumerate().skip(1) {
        let r = row(i);
        assert_eq!(r.len(), 5, "{line}");
        assert!(r[2].parse::<f64>().unwrap().is_finite());
        assert!(r[3].parse::<f64>().unwrap() >= 0.0);
        // The second fit evaluates nothing: an empty cell.
        match i {
            1..=10 => assert!(r[4].parse::<f64>().unwrap() >= 0.0, "{line}"),
            _ => assert_eq!(r[4], "", "{line}"),
        }
    }
    // The loss falls, and the last row is the run's final loss.
    let loss = |i: usize| row(i)[2].parse::<f64>().unwrap();
    assert!(loss(10) < loss(1));
    let json = stdout.lines().last().unwrap();
    let final_loss = json.split("\"final_loss\":").nth(1).unwrap();
    let final_loss: f64 = final_loss
        .split([',', '}'])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((loss(15) - final_loss).abs() <= 1e-9 * final_loss.abs().max(1.0));
}

#[test]
fn metrics_jsonl_is_one_object_per_epoch() {
    let case = Case::new("jsonl");
    case.run("db", &["--metrics", "curve.jsonl"]);
    let text = case.read("curve.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 15);
    assert!(
        lines[0].starts_with("{\"fit\":1,\"epoch\":1,\"loss\":"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"step_ms\":"));
    assert!(lines[0].contains("\"metrics\":{\"Err\":"));
    assert!(lines[14].starts_with("{\"fit\":2,\"epoch\":5,"));
    assert!(lines[14].ends_with("\"metrics\":{}}"), "{}", lines[14]);
}

#[test]
fn metrics_file_in_a_missing_folder_fails_before_training() {
    let case = Case::new("missing");
    let stderr = case.fail("db", &["--metrics", "no/such/curve.csv"]);
    assert!(
        stderr.contains("--metrics no/such/curve.csv: its folder does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("epoch"), "{stderr}");
}

#[test]
fn plot_draws_the_loss_and_each_metric() {
    let case = Case::new("plot");
    case.run("db", &["--plot", "curve.svg"]);
    let svg = case.read("curve.svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for text in ["loss", "metrics", "Err", "epoch (all fits in order)"] {
        assert!(svg.contains(text), "no {text:?} in the plot");
    }
    // Two curves (loss and Err) and the rule where the second fit starts: polylines.
    assert!(svg.matches("<polyline").count() >= 3);
    assert!(!case.0.join("curve.csv").exists());
    let stderr = case.fail("db", &["--plot", "no/such.svg"]);
    assert!(
        stderr.contains("--plot no/such.svg: its folder does not exist"),
        "{stderr}"
    );
}

/// `Pred` read back from a SQLite file with the `sqlite3`-free route: nrp itself.
fn query_written(dir: &Path, file: &str) -> String {
    std::fs::write(dir.join("read.nrp"), "R(k, x; p) :- Pred(k, x; p) .\n").unwrap();
    let out = nrp(dir, &["query", "read.nrp", "--db", file, "--relation", "R"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn write_db_writes_each_relation_once_and_never_the_input() {
    let case = Case::new("write-db");
    let stdout = case.run("db", &["--out", "out", "--write-db", "preds.sqlite"]);
    assert!(
        stdout.contains("wrote 1 relation to preds.sqlite"),
        "{stdout}"
    );
    // The same facts as the CSV of --out (header c0,c1,e0).
    let csv = case.read("out/Pred.csv");
    assert_eq!(query_written(&case.0, "preds.sqlite"), csv);
    // Again: the table exists, an error that writes nothing; with --replace it is replaced.
    let stderr = case.fail("db", &["--write-db", "preds.sqlite"]);
    assert!(
        stderr.contains("already has a table `Pred` (give --replace to overwrite it)"),
        "{stderr}"
    );
    case.run(
        "db",
        &["--write-db", "preds.sqlite", "--replace", "--seed", "1"],
    );
    assert_ne!(
        query_written(&case.0, "preds.sqlite"),
        csv,
        "seed 1 trains other weights"
    );
    // The input database is never the output.
    let stderr = case.fail("preds.sqlite", &["--write-db", "preds.sqlite"]);
    assert!(
        stderr.contains("that is the input database, which nrp never writes"),
        "{stderr}"
    );
    case.fail("db", &["--replace"]);
}

/// The files under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_run_that_fails_leaves_no_partial_output_files() {
    let case = Case::new("partial");
    // `Good` is written to --out before `Bad` fails while the run evaluates it (x = 0.25
    // is no row of the embedding table).
    std::fs::write(
        case.0.join("program.nrp"),
        "E = Embedding(8, 1) .\n\
         ?pred Good(k; E([k])) :- P(k, _, _) .\n\
         ?pred Bad(k; E([x])) :- P(k, x, _) .\n",
    )
    .unwrap();
    let before = listing(&case.0);
    let out = [
        "--out",
        "out",
        "--write-db",
        "preds.sqlite",
        "--save",
        "w.safetensors",
    ];
    let stderr = case.fail("db", &out);
    assert!(stderr.contains("Bad"), "{stderr}");
    assert_eq!(listing(&case.0), before, "a failed run wrote files");
    assert!(
        !case.0.join("out").exists(),
        "the --out folder it made is removed"
    );
    // An --out folder that exists is left as it was.
    std::fs::create_dir(case.0.join("out")).unwrap();
    std::fs::write(case.0.join("out/keep.txt"), "x").unwrap();
    let before = listing(&case.0);
    case.fail("db", &out);
    assert_eq!(listing(&case.0), before, "a failed run wrote files");
    // Without `Bad` every output is written, under its own name.
    std::fs::write(
        case.0.join("program.nrp"),
        "E = Embedding(8, 1) .\n?pred Good(k; E([k])) :- P(k, _, _) .\n",
    )
    .unwrap();
    case.run("db", &out);
    let files = listing(&case.0);
    for f in ["out/Good.csv", "preds.sqlite", "w.safetensors"] {
        assert!(files.contains(&f.to_string()), "{f} missing: {files:?}");
    }
    assert!(!files.iter().any(|f| f.contains("partial")), "{files:?}");
}
