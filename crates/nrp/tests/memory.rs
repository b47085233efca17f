//! The memory budget through the binary (issue 14, "never take the machine down"): programs
//! and databases that would need far more memory than there is are refused with exit
//! status 1 and a message, quickly, before the memory is touched — under the default budget
//! (a fraction of what the process may use) and under `--memory-limit`.
//!
//! Belt and braces: every command runs with its address space limited to 4 GB (`ulimit -v`
//! through `sh`), so that a guard that fails makes the command fail, not the machine swap.
//! That limit also makes the default budget 3 GB (75% of RLIMIT_AS). The large databases
//! are generated into a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The address-space limit of every command, in kB (`ulimit -v`).
const ADDRESS_SPACE_KB: u64 = 3_906_250; // 4·10⁹ bytes

/// A fresh directory under the system's temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nrp-memory-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `nrp args…` in `dir` with the address-space limit; returns its output and time.
fn nrp(dir: &Path, args: &[&str]) -> (Output, Duration) {
    let bin = env!("CARGO_BIN_EXE_nrp");
    let mut cmd = if cfg!(unix) && Path::new("/bin/sh").exists() {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -v {ADDRESS_SPACE_KB} && exec \"$0\" \"$@\""
            ))
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let start = Instant::now();
    let out = cmd.args(args).current_dir(dir).output().expect("run nrp");
    (out, start.elapsed())
}

/// Runs a command that must be refused: exit status exactly 1, nothing on stdout, stderr
/// holding each of `fragments` and no sign of a crash; within `seconds`.
fn refused(dir: &Path, args: &[&str], fragments: &[&str], seconds: u64) -> String {
    let (out, took) = nrp(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "nrp {}: {:?}\n{stderr}",
        args.join(" "),
        out.status
    );
    assert!(
        out.stdout.is_empty(),
        "nrp {}: stdout {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    for bad in [
        "panicked",
        "internal error",
        "memory allocation of",
        "RUST_BACKTRACE",
    ] {
        assert!(!stderr.contains(bad), "nrp {}: {stderr}", args.join(" "));
    }
    for f in fragments {
        assert!(
            stderr.contains(f),
            "nrp {}: stderr lacks {f:?}:\n{stderr}",
            args.join(" ")
        );
    }
    assert!(
        took < Duration::from_secs(seconds),
        "nrp {} took {took:?}",
        args.join(" ")
    );
    stderr
}

/// Runs a command that must succeed; returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let (out, _) = nrp(dir, args);
    assert!(
        out.status.success(),
        "nrp {}: {:?}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn oversized_modules_are_refused_by_check_and_run() {
    let dir = temp_dir("modules");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join("db/X.csv"), "v,a\n1,0.5\n2,1\n").unwrap();
    let cases = [
        (
            "L = Linear(100000000, 100000000) .",
            "`L` (Linear(100000000, 100000000)) has 10000000100000000 parameters: 40 PB",
        ),
        (
            "L = Linear(4, 1e9) .",
            "`L` (Linear(4, 1000000000)) has 5000000000 parameters: 20 GB",
        ),
        (
            "E = Embedding(1e9, 1000) .",
            "`E` (Embedding(1000000000, 1000)) has 1000000000000 parameters: 4 TB",
        ),
        (
            "N = LayerNorm(1e9) .",
            "`N` (LayerNorm(1000000000)) has 2000000000 parameters: 8 GB",
        ),
        (
            "hidden = 1e7 .\nL = Linear(1433, hidden) .",
            "`L` (Linear(1433, 10000000)) has 14340000000 parameters: 57.4 GB",
        ),
        // A free parameter counts like a module's weight.
        (
            "B = Tensor(1, 1e9, 0.5) .",
            "`B` (Tensor(1, 1000000000, 0.5)) has 1000000000 parameters: 4 GB",
        ),
    ];
    for (i, (module, message)) in cases.iter().enumerate() {
        // The module is not used by any rule: it is refused anyway.
        let name = format!("p{i}.nrp");
        std::fs::write(dir.join(&name), format!("{module}\nH(v; z) :- X(v; z) .\n")).unwrap();
        let line = module.lines().count();
        let at = format!("{name}:{line}:");
        // The default budget: 75% of the 4 GB address space.
        for args in [
            vec!["check", &name],
            vec!["run", &name, "--db", "db", "--threads", "2"],
        ] {
            let stderr = refused(
                &dir,
                &args,
                &[&at, message, "more than the memory limit of 3 GB", "^^^"],
                10,
            );
            assert!(stderr.contains("75% of 4 GB (RLIMIT_AS)"), "{stderr}");
        }
        refused(
            &dir,
            &["run", &name, "--db", "db", "--memory-limit", "1G"],
            &[
                &at,
                message,
                "memory limit of 1 GB",
                "given by `--memory-limit 1G`",
            ],
            10,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two tables of 200 000 rows each.
fn cross_db(dir: &Path) {
    std::fs::create_dir_all(dir.join("db")).unwrap();
    for t in ["A", "B"] {
        let mut text = String::from("x\n");
        for i in 0..200_000 {
            text.push_str(&format!("{i}\n"));
        }
        std::fs::write(dir.join(format!("db/{t}.csv")), text).unwrap();
    }
}

#[test]
fn a_cross_product_of_200k_rows_is_refused_quickly() {
    let dir = temp_dir("cross");
    cross_db(&dir);
    std::fs::write(
        dir.join("p.nrp"),
        "R(x, y) :- A(x), B(y) .\nN(; count()) :- A(x), B(y) .\n",
    )
    .unwrap();
    let estimate = "about 40000000000 matches";
    for limit in [&["--memory-limit", "1G"][..], &[]] {
        let with = |args: &[&'static str]| -> Vec<&'static str> { [args, limit].concat() };
        let at_r = "p.nrp:1:12:";
        let at_n = "p.nrp:2:17:";
        refused(
            &dir,
            &with(&[
                "query",
                "p.nrp",
                "--db",
                "db",
                "--relation",
                "R",
                "--threads",
                "2",
            ]),
            &[at_r, estimate, "a cross product", "A 200000, B 200000"],
            10,
        );
        refused(
            &dir,
            &with(&[
                "query",
                "p.nrp",
                "--db",
                "db",
                "--relation",
                "N",
                "--threads",
                "2",
            ]),
            &[at_n, estimate],
            10,
        );
        refused(
            &dir,
            &with(&["explain", "p.nrp", "--db", "db"]),
            &[at_r, estimate],
            10,
        );
        refused(
            &dir,
            &with(&["check", "p.nrp", "--db", "db"]),
            &[at_r, estimate],
            10,
        );
        refused(
            &dir,
            &with(&[
                "query",
                "p.nrp",
                "--db",
                "db",
                "--relation",
                "N",
                "--reference",
            ]),
            &[at_n, estimate],
            10,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The complete directed graph on `n` nodes.
fn complete_graph(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let mut text = String::from("a,b\n");
    for i in 0..n {
        for j in 0..n {
            if i != j {
                text.push_str(&format!("{i},{j}\n"));
            }
        }
    }
    std::fs::write(dir.join("db/E.csv"), text).unwrap();
}

#[test]
fn five_way_self_joins_on_300_nodes_are_refused() {
    let dir = temp_dir("five");
    complete_graph(&dir, 300);
    std::fs::write(
        dir.join("p.nrp"),
        "P(a, b, c, d, e, f) :- E(a, b), E(b, c), E(c, d), E(d, e), E(e, f) .\n\
         C(a; count()) :- E(a, b), E(b, c), E(c, d), E(d, e), E(e, a) .\n",
    )
    .unwrap();
    for limit in [&["--memory-limit", "1G"][..], &[]] {
        let with = |args: &[&'static str]| -> Vec<&'static str> { [args, limit].concat() };
        refused(
            &dir,
            &with(&[
                "query",
                "p.nrp",
                "--db",
                "db",
                "--relation",
                "P",
                "--threads",
                "2",
            ]),
            &[
                "p.nrp:1:24:",
                "about 7.17e14 matches",
                "joined on `b` (300 values)",
            ],
            10,
        );
        refused(
            &dir,
            &with(&[
                "query",
                "p.nrp",
                "--db",
                "db",
                "--relation",
                "C",
                "--threads",
                "2",
            ]),
            &["p.nrp:2:18:", "about 2.39e12 matches"],
            10,
        );
        refused(
            &dir,
            &with(&["explain", "p.nrp", "--db", "db"]),
            &["p.nrp:1:24:", "about 7.17e14 matches"],
            10,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_underestimated_join_stops_at_the_budget() {
    // Two hops through a star of 20 000 leaves: the estimate (about 80 000 matches) is far
    // below the 400 million paths; grounding stops when the matches pass the budget.
    let dir = temp_dir("star");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let mut text = String::from("a,b\n");
    for i in 1..=20_000 {
        text.push_str(&format!("0,{i}\n{i},0\n"));
    }
    std::fs::write(dir.join("db/E.csv"), text).unwrap();
    std::fs::write(dir.join("p.nrp"), "P(x, z) :- E(x, y), E(y, z) .\n").unwrap();
    refused(
        &dir,
        &[
            "query",
            "p.nrp",
            "--db",
            "db",
            "--relation",
            "P",
            "--threads",
            "2",
            "--memory-limit",
            "200M",
        ],
        &[
            "p.nrp:1:12:",
            "grounding the rule for `P` stopped after",
            "estimated 79996 matches, found more",
            "memory limit of 200 MB",
        ],
        20,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_and_check_show_estimates() {
    let dir = temp_dir("explain");
    complete_graph(&dir, 12);
    std::fs::write(
        dir.join("p.nrp"),
        "T(a, c) :- E(a, b), E(b, c) .\nW(a; count()) :- E(a, b) .\n",
    )
    .unwrap();
    let explain = ok(&dir, &["explain", "p.nrp", "--db", "db"]);
    // 12 nodes, 132 edges: 132 · 132 / 12 two-hop paths, exactly.
    assert!(
        explain.contains("E (132) ⋈ E (132) ⋈ order [b, a, c] → 1452 matches (estimated 1452)"),
        "{explain}"
    );
    assert!(
        explain.contains("memory (memory limit 3 GB): "),
        "{explain}"
    );
    let check = ok(&dir, &["check", "p.nrp", "--db", "db"]);
    assert!(
        check.contains(
            "estimated matches (before grounding, from table sizes and distinct values):"
        ),
        "{check}"
    );
    let table = check.split("estimated matches").nth(1).unwrap_or_default();
    let row = |rel: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(rel))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    };
    assert_eq!(row("T").as_deref(), Some("1452"), "{check}");
    assert_eq!(row("W").as_deref(), Some("132"), "{check}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memory_limit_values_are_checked() {
    let dir = temp_dir("args");
    std::fs::write(dir.join("p.nrp"), "H(v) :- T(v) .\n").unwrap();
    for (value, message) in [
        (
            "12X",
            "expected a size such as `512M`, `8G` or a number of bytes, got `12X`",
        ),
        ("0", "the size must be at least one byte"),
        ("-1G", "got `-1G`"),
        ("1.5", "a number of bytes is whole"),
        ("100E", "is too large"),
    ] {
        for cmd in ["check", "run", "explain", "query"] {
            refused(
                &dir,
                &[cmd, "p.nrp", &format!("--memory-limit={value}")],
                &["error: `--memory-limit`: ", message],
                10,
            );
        }
    }
    refused(
        &dir,
        &["check", "p.nrp", "--memory-limit"],
        &["option `--memory-limit` needs a value"],
        10,
    );
    for good in ["512M", "8G", "8GiB", "1000000", "1.5g"] {
        ok(&dir, &["check", "p.nrp", "--memory-limit", good]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
