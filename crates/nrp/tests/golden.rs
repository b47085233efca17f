//! Golden programs: every directory under `tests/programs/` holds a program, a tiny CSV
//! database, a `cmds` file (one `nrp …` command per line, run in that directory) and
//! `expected.txt`, the transcript of those commands: stdout, then stderr, then exit status.
//!
//! Regenerate the transcripts after an intended change with
//! `NRP_BLESS=1 cargo test -p nrp --test golden` — and read the diff before committing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs")
}

/// Runs one command line (split on white space; `'…'` groups) in `dir`.
fn transcript(dir: &Path, line: &str) -> String {
    let words = split(line);
    assert_eq!(
        words.first().map(String::as_str),
        Some("nrp"),
        "{}: commands start with `nrp`",
        dir.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args(&words[1..])
        .current_dir(dir)
        .output()
        .expect("run nrp");
    let mut t = format!("$ {line}\n{}", String::from_utf8_lossy(&out.stdout));
    if !out.stderr.is_empty() {
        t.push_str("[stderr]\n");
        t.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    t.push_str(&format!(
        "[exit {}]\n",
        out.status
            .code()
            .map(|c| c.to_string())
            .unwrap_or("signal".into())
    ));
    t
}

fn split(line: &str) -> Vec<String> {
    let mut words = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

#[test]
fn golden_programs() {
    let bless = std::env::var_os("NRP_BLESS").is_some();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/programs exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no golden cases in {}",
        cases_dir().display()
    );
    let mut failures = vec![];
    for dir in &dirs {
        let cmds = std::fs::read_to_string(dir.join("cmds"))
            .unwrap_or_else(|_| panic!("{}: missing cmds", dir.display()));
        let actual: String = cmds
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| transcript(dir, l.trim()))
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.join("expected.txt");
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            if bless {
                std::fs::write(&path, &actual).unwrap();
            } else {
                failures.push(format!(
                    "=== {} ===\n--- expected\n{expected}\n--- actual\n{actual}",
                    dir.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ (NRP_BLESS=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
