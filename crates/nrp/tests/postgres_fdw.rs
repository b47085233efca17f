//! Scale-out on an existing engine (issue 18, item 4): Cora's `edge` table split across two
//! PostgreSQL servers — a partitioned table on the coordinator whose second partition is a
//! `postgres_fdw` foreign table on another server — gives the same results through the
//! coordinator as the whole table on one server and as the CSV files.

use std::process::Output;

#[path = "../../nrp-data/tests/common/pg_server.rs"]
mod pg_server;

use pg_server::{admin, checksum, parts, schema, scratch, url, with_schema};

mod common;
use common::root;

fn nrp(args: &[&str]) -> Output {
    common::nrp(&root(), args)
}

/// stdout without the line that reports timings.
fn results(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("trained "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_table_partitioned_over_two_servers_grounds_like_one() {
    let Some(coordinator) = url() else { return };
    let shard = scratch();
    let cora =
        nrp_data::Database::open(root().join("examples/data/cora").to_str().unwrap()).unwrap();
    // The shard holds the edges with src >= 1354.
    let mut s = schema(&shard, "fdw_cora", "");
    nrp_data::export::write_postgres(&cora, &shard, "fdw_cora").unwrap();
    s.batch_execute(
        "DROP TABLE fdw_cora.node, fdw_cora.feature;
         DELETE FROM fdw_cora.edge WHERE src < 1354;
         ALTER TABLE fdw_cora.edge RENAME TO edge_hi;",
    )
    .unwrap();
    // The coordinator: everything in `fdw_whole`, and `fdw_cora` with `edge` partitioned.
    schema(&coordinator, "fdw_whole", "");
    nrp_data::export::write_postgres(&cora, &coordinator, "fdw_whole").unwrap();
    let (host, port, db) = parts(&shard);
    let creds = shard
        .strip_prefix("postgres://")
        .and_then(|r| r.split('@').next())
        .unwrap();
    let (user, password) = creds.split_once(':').unwrap();
    let mut c = schema(
        &coordinator,
        "fdw_cora",
        &format!(
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw;
             DROP SERVER IF EXISTS nrp_shard CASCADE;
             CREATE SERVER nrp_shard FOREIGN DATA WRAPPER postgres_fdw
                 OPTIONS (host '{host}', port '{port}', dbname '{db}');
             CREATE USER MAPPING FOR PUBLIC SERVER nrp_shard
                 OPTIONS (user '{user}', password '{password}');
             CREATE TABLE node AS SELECT * FROM fdw_whole.node;
             CREATE TABLE feature AS SELECT * FROM fdw_whole.feature;
             CREATE TABLE edge (src bigint NOT NULL, dst bigint NOT NULL)
                 PARTITION BY RANGE (src);
             CREATE TABLE edge_lo PARTITION OF edge FOR VALUES FROM (MINVALUE) TO (1354);
             CREATE FOREIGN TABLE edge_hi PARTITION OF edge
                 FOR VALUES FROM (1354) TO (MAXVALUE)
                 SERVER nrp_shard OPTIONS (schema_name 'fdw_cora', table_name 'edge_hi');
             INSERT INTO edge_lo SELECT * FROM fdw_whole.edge WHERE src < 1354;"
        ),
    );
    // Both servers hold part of the edges.
    let local: i64 = c
        .query_one("SELECT count(*) FROM fdw_cora.edge_lo", &[])
        .unwrap()
        .get(0);
    let remote: i64 = s
        .query_one("SELECT count(*) FROM fdw_cora.edge_hi", &[])
        .unwrap()
        .get(0);
    let whole: i64 = c
        .query_one("SELECT count(*) FROM fdw_whole.edge", &[])
        .unwrap()
        .get(0);
    assert!(local > 0 && remote > 0 && local + remote == whole);
    let before = checksum(&mut admin(&shard), "fdw_cora");

    let program = "examples/gcn-cora.nrp";
    let split = with_schema(&coordinator, "fdw_cora");
    let one = with_schema(&coordinator, "fdw_whole");
    // The grounded relations: normalised adjacency and degrees, then the trained model.
    for relation in ["Norm", "Deg"] {
        let q = |db: &str| nrp(&["query", program, "--db", db, "--relation", relation]);
        let csv = results(&q("examples/data/cora"));
        assert_eq!(csv, results(&q(&one)), "{relation}: CSV vs one server");
        assert_eq!(csv, results(&q(&split)), "{relation}: CSV vs two servers");
    }
    let run = |db: &str| nrp(&["run", program, "--db", db, "--threads", "2"]);
    let csv = results(&run("examples/data/cora"));
    assert!(csv.contains("TestAcc = "), "{csv}");
    assert_eq!(csv, results(&run(&split)), "GCN: CSV vs two servers");
    assert_eq!(before, checksum(&mut admin(&shard), "fdw_cora"));
}
