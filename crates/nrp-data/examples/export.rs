//! Copies a database's tables to another kind of source:
//!
//!     cargo run --release -p nrp-data --example export -- SOURCE --parquet DIR
//!     cargo run --release -p nrp-data --example export -- SOURCE --postgres URL [--schema S]
//!
//! SOURCE is anything `--db` takes. `--parquet` writes `DIR/<table>.parquet` (DIR is
//! created); `--postgres` creates the tables in schema S (default `public`), replacing
//! tables of the same names. Column types: see `nrp_data::export`. For example, Cora into
//! the scratch server of `scripts/pg-scratch.sh`:
//!
//!     eval "$(scripts/pg-scratch.sh start)"
//!     cargo run --release -p nrp-data --example export -- examples/data/cora \
//!         --postgres "$NRP_TEST_PG_URL" --schema cora
//!     nrp run examples/gcn-cora.nrp --db "$NRP_TEST_PG_URL?schema=cora"

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: export SOURCE (--parquet DIR | --postgres URL [--schema S])";
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [src, "--parquet", dir] => nrp_data::Database::open(src).and_then(|db| {
            std::fs::create_dir_all(dir)
                .map_err(|e| nrp_data::DataError::new(format!("cannot create {dir}: {e}")))?;
            nrp_data::export::write_parquet_dir(&db, std::path::Path::new(dir))
        }),
        [src, "--postgres", url] => nrp_data::Database::open(src)
            .and_then(|db| nrp_data::export::write_postgres(&db, url, "public")),
        [src, "--postgres", url, "--schema", schema] => nrp_data::Database::open(src)
            .and_then(|db| nrp_data::export::write_postgres(&db, url, schema)),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
