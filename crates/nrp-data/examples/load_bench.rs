//! Times loading and binding a table.
//!
//! ```text
//! cargo run --release -p nrp-data --example load_bench -- gen DIR ROWS [shuffle]
//! cargo run --release -p nrp-data --example load_bench -- DIR TABLE TERMS [emb]
//! ```
//! `gen` writes `DIR/feature.csv` as `id,dim,value` with 500 dims per id and float32 values
//! printed in shortest form (PubMed's dense feature matrix has 19717 x 500 = 9.86M rows).

use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("gen") {
        let rows: usize = args[2].parse().expect("ROWS");
        let shuffle = args.get(3).is_some_and(|a| a == "shuffle");
        std::fs::create_dir_all(&args[1]).expect("mkdir");
        let path = std::path::Path::new(&args[1]).join("feature.csv");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        writeln!(out, "id,dim,value").unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut order: Vec<usize> = (0..rows).collect();
        if shuffle {
            for i in (1..rows).rev() {
                order.swap(i, next() as usize % (i + 1));
            }
        }
        for r in order {
            let x = (next() >> 40) as f32 / (1u64 << 24) as f32 * 0.1;
            writeln!(out, "{},{},{}", r / 500, r % 500, nrp_data::format_f32(x)).unwrap();
        }
        out.flush().unwrap();
        println!(
            "wrote {} ({} bytes)",
            path.display(),
            std::fs::metadata(&path).unwrap().len()
        );
        return;
    }
    let (dir, table) = (&args[0], &args[1]);
    let terms: usize = args.get(2).map_or(3, |t| t.parse().expect("TERMS"));
    let emb = args.get(3).is_some_and(|a| a == "emb");
    let t0 = Instant::now();
    let db = nrp_data::Database::open(dir).expect("open");
    let t = db.table(table).unwrap_or_else(|e| panic!("{e}"));
    let t1 = Instant::now();
    let types: Vec<&str> = t
        .cells
        .iter()
        .map(|c| match c {
            nrp_data::Column::Int(_) => "Int",
            nrp_data::Column::Float(_) => "Float",
            nrp_data::Column::Mixed(_) => "Mixed",
        })
        .collect();
    println!(
        "load  {table}: {} rows, columns {:?} {types:?}: {:.3} s",
        t.len(),
        t.columns,
        (t1 - t0).as_secs_f64()
    );
    match db.bind(table, terms, emb) {
        Ok(r) => println!(
            "bind  {table}/{terms}{}: {} facts, dim {}: {:.3} s",
            if emb { "+e" } else { "" },
            r.len(),
            r.dim,
            t1.elapsed().as_secs_f64()
        ),
        Err(e) => println!("bind  error after {:.3} s: {e}", t1.elapsed().as_secs_f64()),
    }
}
