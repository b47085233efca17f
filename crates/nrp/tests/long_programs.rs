//! Programs too large to commit as golden cases, written by the test: a flat sum and a flat
//! product of 5000 terms parse, check, and evaluate (engine and reference agree, exactly);
//! true nesting beyond the limit is a clear error, not a stack overflow.

mod common;
use common::nrp;

use std::path::{Path, PathBuf};

const TERMS: usize = 5000;

/// A fresh directory with the program files and a one-table database.
fn case_dir(name: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nrp-long-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join("db/X.csv"), "v,a,b\n1,0.5,-1\n2,2,0.25\n").unwrap();
    for (f, text) in files {
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = nrp(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    assert!(stderr.is_empty(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn flat_sums_and_products_of_thousands_of_terms_run() {
    let sum = vec!["x"; TERMS].join(" + ");
    let product = format!("x{}", " * 1".repeat(TERMS - 1));
    // Both levels at once: 2500 times (x * 2 / 2 - x / 4 + x / 4), plus x.
    let mixed = format!("x{}", " + x * 2 / 2 - x / 4 + x / 4".repeat(TERMS / 2));
    let program = format!(
        "Sum(v; {sum}) :- X(v; x) .\nProd(v; {product}) :- X(v; x) .\nMixed(v; {mixed}) :- X(v; x) .\n"
    );
    let dir = case_dir("flat", &[("program.nrp", program)]);
    let check = ok(&dir, &["check", "program.nrp", "--db", "db"]);
    assert!(check.starts_with("program.nrp: ok\n"), "{}", &check[..200]);
    let n = TERMS as f64;
    for (rel, scale) in [("Sum", n), ("Prod", 1.0), ("Mixed", 1.0 + n / 2.0)] {
        let want = format!(
            "c0,e0,e1\n1,{:?},{:?}\n2,{:?},{:?}\n",
            0.5 * scale,
            -scale,
            2.0 * scale,
            0.25 * scale
        );
        for reference in [false, true] {
            let mut args = vec!["query", "program.nrp", "--db", "db", "--relation", rel];
            if reference {
                args.push("--reference");
            }
            assert_eq!(ok(&dir, &args), want, "{rel} reference={reference}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn true_nesting_beyond_the_limit_is_an_error() {
    let deep = format!(
        "H(v; {}x{}) :- X(v; x) .\n",
        "(x + ".repeat(300),
        ")".repeat(300)
    );
    let calls = format!(
        "H(v; {}x{}) :- X(v; x) .\n",
        "relu(".repeat(300),
        ")".repeat(300)
    );
    let dir = case_dir("deep", &[("deep.nrp", deep), ("calls.nrp", calls)]);
    for file in ["deep.nrp", "calls.nrp"] {
        let out = nrp(&dir, &["check", file, "--db", "db"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!("{file}:1:"))
                && stderr.contains("error: expression nested too deeply"),
            "{stderr}"
        );
        // One source line, shortened.
        assert_eq!(stderr.lines().count(), 4, "{stderr}");
        assert!(stderr.lines().all(|l| l.chars().count() < 140), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
