//! Command-line behaviour whose messages depend on the machine (so not a golden
//! transcript): `--threads` above the available cores warns, above the cap fails.

use std::path::{Path, PathBuf};
use std::process::Output;

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/cli-help")
}

mod common;

fn nrp(args: &[&str]) -> Output {
    common::nrp(&case(), args)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn query_with_threads(n: usize) -> Output {
    let n = n.to_string();
    nrp(&[
        "query",
        "program.nrp",
        "--db",
        "db",
        "--relation",
        "H",
        "--threads",
        &n,
    ])
}

#[test]
fn threads_above_the_cap_is_an_error() {
    let max = (4 * cores()).max(64);
    let out = query_with_threads(max + 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    let s = if cores() == 1 { "" } else { "s" };
    assert_eq!(
        stderr,
        format!(
            "error: `--threads {}` is more than nrp allows here: at most {max} \
             (4 per available core, at least 64; {} core{s} available)\n",
            max + 1,
            cores()
        )
    );
}

#[test]
fn threads_above_the_cores_warn_once() {
    let n = cores() + 1;
    let out = query_with_threads(n);
    assert_eq!(out.status.code(), Some(0));
    let s = if cores() == 1 { "" } else { "s" };
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "warning: --threads {n} is more than the {} core{s} available; runs will be slower\n",
            cores()
        )
    );
    let at_cores = query_with_threads(cores());
    assert!(at_cores.stderr.is_empty());
    assert_eq!(at_cores.stdout, out.stdout);
}
