//! The engine against the reference evaluator on every golden program: each `nrp query`
//! command of `tests/programs/*/cmds` runs twice, through the engine (f32, fused kernels)
//! and with `--reference` (naive f64), and the outputs must agree — same exit status, same
//! header, same content columns, embeddings within 1e-6 + 1e-5·|reference|. Commands that
//! give `--memory-limit` are left out (they test the budget, which the two check
//! differently).

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(dir: &Path, args: &[String]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run nrp");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Splits a CSV line, honouring `"…"` quoting.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// A line as (key, value, is_embedding) triples: CSV under its header, or a JSON object.
fn cells(header: &[String], line: &str) -> Result<Vec<(String, String, bool)>, String> {
    if line.starts_with('{') {
        let v =
            nrp_params::json::parse(line).map_err(|e| format!("bad JSON line {line}: {e:?}"))?;
        let obj = v.as_object().ok_or("not an object")?;
        return Ok(obj
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    nrp_params::json::Value::Null => "nan".to_string(),
                    v => v.to_compact(),
                };
                (k.clone(), text, k.starts_with('e'))
            })
            .collect());
    }
    Ok(header
        .iter()
        .zip(fields(line))
        .map(|(h, v)| (h.clone(), v, h.starts_with('e')))
        .collect())
}

fn compare(engine: &str, reference: &str) -> Result<(), String> {
    let (e, r): (Vec<&str>, Vec<&str>) = (engine.lines().collect(), reference.lines().collect());
    if e.len() != r.len() {
        return Err(format!("{} lines vs {} lines", e.len(), r.len()));
    }
    let csv = r.first().is_some_and(|l| !l.starts_with('{'));
    let header: Vec<String> = if csv { fields(r[0]) } else { vec![] };
    if csv && e[0] != r[0] {
        return Err(format!("headers differ: {} vs {}", e[0], r[0]));
    }
    for (i, (a, b)) in e.iter().zip(&r).enumerate().skip(usize::from(csv)) {
        let (ca, cb) = (cells(&header, a)?, cells(&header, b)?);
        if ca.len() != cb.len() {
            return Err(format!("line {}: {a} vs {b}", i + 1));
        }
        for ((ka, x, emb), (kb, y, _)) in ca.iter().zip(&cb) {
            if ka != kb {
                return Err(format!("line {}: key {ka} vs {kb}", i + 1));
            }
            if !emb {
                // Decoded columns (`[Softmax(1)(p)]`) are computed values: numbers compare
                // within the tolerance of embeddings, everything else exactly.
                let close = match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-6 + 1e-5 * y.abs(),
                    _ => false,
                };
                if x != y && !close {
                    return Err(format!("line {}: content {x} vs {y}", i + 1));
                }
                continue;
            }
            let (x, y): (f64, f64) = (
                x.parse().map_err(|_| format!("not a number: {x}"))?,
                y.parse().map_err(|_| format!("not a number: {y}"))?,
            );
            let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-6 + 1e-5 * y.abs();
            if !ok {
                return Err(format!("line {}: engine {x} vs reference {y}", i + 1));
            }
        }
    }
    Ok(())
}

#[test]
fn engine_agrees_with_reference_on_every_golden_query() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut checked = 0;
    let mut failures = vec![];
    for dir in dirs {
        let Ok(cmds) = std::fs::read_to_string(dir.join("cmds")) else {
            continue;
        };
        for line in cmds
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("nrp query"))
        {
            let args: Vec<String> = line.split_whitespace().skip(1).map(String::from).collect();
            // A memory budget is checked differently by the two (the engine counts matches
            // while grounding, the reference has estimates only; their tensors differ):
            // those commands test the budget, not the semantics.
            if args
                .iter()
                .any(|a| a == "--reference" || a.starts_with("--memory-limit"))
            {
                continue;
            }
            let (ce, oe) = run(&dir, &args);
            let mut ref_args = args.clone();
            ref_args.push("--reference".into());
            let (cr, or) = run(&dir, &ref_args);
            let outcome = if ce != cr {
                Err(format!("exit {ce} vs {cr}"))
            } else {
                compare(&oe, &or)
            };
            if let Err(e) = outcome {
                failures.push(format!(
                    "{}: `{line}`: {e}",
                    dir.file_name().unwrap().to_string_lossy()
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no queries found");
    assert!(
        failures.is_empty(),
        "{} of {checked} queries disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
