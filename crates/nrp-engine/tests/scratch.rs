mod common;
use common::*;
use nrp_data::{Table, Value};

/// Reads /tmp/scratch/case.txt: lines `table NAME c0,c1,...` followed by rows `a,b,...`, then `program:` and the text.
#[test]
fn scratch() {
    let Ok(text) = std::fs::read_to_string("/tmp/scratch/case.txt") else {
        return;
    };
    let (data, prog) = text.split_once("program:").unwrap();
    let mut tables = vec![];
    let mut cur: Option<(String, Vec<String>, Vec<Vec<Value>>)> = None;
    for line in data.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("table ") {
            if let Some((n, c, r)) = cur.take() {
                tables.push(Table::from_rows(n, c, &r).unwrap());
            }
            let (n, cols) = rest.split_once(' ').unwrap();
            cur = Some((
                n.to_string(),
                cols.split(',').map(|s| s.trim().to_string()).collect(),
                vec![],
            ));
        } else {
            cur.as_mut().unwrap().2.push(
                line.split(',')
                    .map(|s| Value::parse(s.trim().trim_matches('"')))
                    .collect(),
            );
        }
    }
    if let Some((n, c, r)) = cur.take() {
        tables.push(Table::from_rows(n, c, &r).unwrap());
    }
    let db = database(tables);
    let program = program(prog, &db);
    let params = nrp_sema::params::init_parameters(&program, 0);
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    for r in 0..program.relations.len() {
        if program.relations[r].is_input() || program.relations[r].is_auxiliary() {
            continue;
        }
        let name = &program.relations[r].name;
        let re = reference_facts(&program, &db, &params, &[r]);
        let en = engine_facts(&program, &db, &params, &[r], &cpu);
        eprintln!(
            "== {name}\nreference: {:?}",
            re.as_ref().map(|f| &f[0].facts)
        );
        eprintln!(
            "engine: {:?}",
            en.as_ref().map(|o| (&o[0].rows, &o[0].embeddings))
        );
        if let Ok(e) = Engine::new(&program, &db, &[r]) {
            eprintln!("{}", e.explain());
        }
    }
}
use nrp_engine::Engine;
