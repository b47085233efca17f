//! The incremental session (LANGUAGE.md, "Sessions"): texts accumulate, re-issued `?pred`
//! and redefined constants replace, identical rules are not doubled, a failed text changes
//! nothing, `?fit` continues from the current weights, a stop keeps the weights.

use nrp_data::{Column, Database, Table};
use nrp_session::{Flow, Options, Output, Session};

fn table(name: &str, cols: &[&str], cells: Vec<Column>) -> Table {
    Table::new(name, cols.iter().map(|c| c.to_string()).collect(), cells).unwrap()
}

fn session() -> Session {
    let db = Database::from_tables(
        "test",
        vec![
            table(
                "Val",
                &["id", "x", "y"],
                vec![
                    Column::Int(vec![1, 2, 3]),
                    Column::Float(vec![1.0, 10.0, 100.0]),
                    Column::Float(vec![0.5, 0.25, 2.0]),
                ],
            ),
            table(
                "Edge",
                &["src", "dst"],
                vec![Column::Int(vec![1, 1, 2, 3]), Column::Int(vec![2, 3, 3, 1])],
            ),
        ],
    )
    .unwrap();
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    Session::new(db, Options::default(), cpu)
}

fn run(s: &mut Session, text: &str) -> Vec<(String, Output)> {
    s.run(text, None, &mut |_| Flow::Continue)
        .unwrap_or_else(|e| panic!("{e}"))
        .predictions
}

fn first_coords(o: &Output) -> Vec<f32> {
    (0..o.rows.len()).map(|i| o.embeddings[i * o.dim]).collect()
}

#[test]
fn a_reissued_pred_re_evaluates_instead_of_adding_a_branch() {
    let mut s = session();
    let a = run(&mut s, "?pred P(v; z) :- Val(v; z) .");
    let b = run(&mut s, "?pred P(v; z) :- Val(v; z) .");
    assert_eq!(first_coords(&a[0].1), vec![1.0, 10.0, 100.0]);
    assert_eq!(first_coords(&a[0].1), first_coords(&b[0].1));
    run(&mut s, "?pred P(v; z * 3) :- Val(v; z) .");
    assert_eq!(
        first_coords(&s.relation("P").unwrap()),
        vec![3.0, 30.0, 300.0]
    );
    // Within one text, v1's rule holds: two ?pred rules of one head are a union.
    let u = run(
        &mut s,
        "?pred U(v; z) :- Val(v; z) .\n?pred U(v; z) :- Val(v; z) .",
    );
    assert_eq!(first_coords(&u[1].1), vec![2.0, 20.0, 200.0]);
}

#[test]
fn identical_rules_are_not_doubled_and_constants_are_replaced() {
    let mut s = session();
    run(&mut s, "k = 2 .\nR(v; z * k) :- Val(v; z) .");
    run(&mut s, "R(v; z * k) :- Val(v; z) .");
    assert_eq!(
        first_coords(&s.relation("R").unwrap()),
        vec![2.0, 20.0, 200.0]
    );
    run(&mut s, "k = 5 .");
    assert_eq!(
        first_coords(&s.relation("R").unwrap()),
        vec![5.0, 50.0, 500.0]
    );
    assert_eq!(s.texts(), vec!["<run 1>", "<run 2>", "<run 3>"]);
}

#[test]
fn a_failed_text_changes_nothing_and_errors_name_the_text() {
    let mut s = session();
    run(&mut s, "R(v; z) :- Val(v; z) .");
    let e = s
        .run(
            "k = 1 .\n?pred Q(v; z) :- Missing(v; z) .",
            Some("cell"),
            &mut |_| Flow::Continue,
        )
        .err()
        .unwrap();
    assert!(
        e.text
            .starts_with("cell:2:18: error: unknown relation `Missing`"),
        "{}",
        e.text
    );
    assert!(!e.interrupted);
    assert_eq!(s.texts(), vec!["<run 1>"]);
    // `k` was not defined by the failed text.
    let e = s.run("?pred Q(v; z * k) :- R(v; z) .", None, &mut |_| {
        Flow::Continue
    });
    let text = e.err().unwrap().text;
    assert!(
        text.starts_with("<run 2>:1:16: error: unknown name `k`"),
        "{text}"
    );
    let syntax = s.run("R(v; z) :- ", None, &mut |_| Flow::Continue);
    assert!(syntax.err().unwrap().text.starts_with("<run 2>:1:"));
}

#[test]
fn fit_continues_from_the_current_weights_and_a_stop_keeps_them() {
    let mut s = session();
    run(
        &mut s,
        "W = Linear(1, 1) .\nOut(v; W([x] / 100)) :- Val(v, x, _) .\nY(v; [y]) :- Val(v, _, y) .",
    );
    let initial = s.parameters()["W.weight"].data.clone();
    let fit = "?fit <epochs=20, lr=0.05>\nLoss(; MSELoss()(p, y)) :- Out(v; p), Y(v; y) .";
    run(&mut s, fit);
    run(&mut s, fit);
    let h = s.history();
    assert_eq!(h.len(), 40);
    assert_eq!((h[0].fit, h[20].fit, h[20].epoch), (0, 1, 1));
    assert!(h[20].loss < h[0].loss, "{} !< {}", h[20].loss, h[0].loss);
    assert!(h.iter().all(|r| r.step_ms > 0.0));
    let trained = s.parameters()["W.weight"].data.clone();
    assert_ne!(trained, initial);
    // A stop after the third epoch: weights kept, error marked interrupted.
    let mut n = 0;
    let e = s
        .run(fit, None, &mut |_| {
            n += 1;
            if n == 3 { Flow::Stop } else { Flow::Continue }
        })
        .err()
        .unwrap();
    assert!(e.interrupted, "{}", e.text);
    assert_eq!(s.history().len(), 43);
    assert_ne!(s.parameters()["W.weight"].data, trained);
}

#[test]
fn tables_change_between_texts() {
    let mut s = session();
    let a = run(&mut s, "?pred D(v; count()) :- Edge(u, v) .");
    assert_eq!(a[0].1.rows.len(), 3);
    s.set_table(table(
        "Edge",
        &["src", "dst"],
        vec![Column::Int(vec![1, 4]), Column::Int(vec![4, 5])],
    ));
    let b = run(&mut s, "?pred D(v; count()) :- Edge(u, v) .");
    let ids: Vec<String> = b[0].1.rows.iter().map(|r| r[0].to_string()).collect();
    assert_eq!(ids, vec!["4", "5"]);
}

#[test]
fn parameters_round_trip_through_a_file_and_shapes_are_kept() {
    let mut s = session();
    run(
        &mut s,
        "W = Linear(2, 3) .\n?pred P(v; W(z)) :- Val(v; z) .",
    );
    let dir = std::env::temp_dir().join(format!("nrp-session-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.safetensors");
    s.save(&path).unwrap();
    let mut t = session();
    t.load(&path).unwrap();
    let p = run(
        &mut t,
        "W = Linear(2, 3) .\n?pred P(v; W(z)) :- Val(v; z) .",
    );
    assert_eq!(p[0].1.embeddings, s.relation("P").unwrap().embeddings);
    let mut bad = nrp_params::ParamMap::new();
    bad.insert(
        "W.weight".into(),
        nrp_params::ParamTensor {
            shape: vec![2, 3],
            data: vec![0.0; 6],
        },
    );
    let e = t.set_parameters(bad).unwrap_err();
    assert_eq!(
        e.text,
        "error: parameter `W.weight` has shape [3, 2], not [2, 3]\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Decoded columns come out of a session as content, and a categorical encoder's code
/// table, once built, stays: a later text on a table with a new string maps the known
/// strings as before and the new one to the unseen bucket.
#[test]
fn decoded_columns_and_code_tables_in_a_session() {
    let mut s = session();
    let names = |v: &[&str]| Column::Mixed(v.iter().map(|x| nrp_data::Value::parse(x)).collect());
    s.set_table(table(
        "Dept",
        &["id", "d"],
        vec![Column::Int(vec![1, 2, 3]), names(&["b", "a", "b"])],
    ));
    let p = run(
        &mut s,
        "?pred C(v, [ArgMax(z)]; z) :- Val(v; z) .\n?pred Code(v; [Identity()(d)]) :- Dept(v, d) .",
    );
    let (c, code) = (&p[0].1, &p[1].1);
    // Val's embeddings are (x, y): x is the larger coordinate of every fact.
    let cells: Vec<String> = c
        .rows
        .iter()
        .map(|r| format!("{}:{}", r[0], r[1]))
        .collect();
    assert_eq!(
        (c.arity, cells),
        (2, vec!["1:0".into(), "2:0".into(), "3:0".into()])
    );
    assert_eq!(first_coords(code), vec![1.0, 0.0, 1.0]);
    // `c` is new; `a` and `b` keep their codes.
    s.set_table(table(
        "Dept",
        &["id", "d"],
        vec![Column::Int(vec![1, 2, 3]), names(&["c", "b", "a"])],
    ));
    assert_eq!(
        first_coords(&s.relation("Code").unwrap()),
        vec![2.0, 1.0, 0.0]
    );
}
