//! Cyclic bodies through the generic join: triangles, 4-cycles and 4-cliques on random
//! graphs with many of them, against the reference evaluator and against counts computed
//! here by brute force over an adjacency matrix.

mod common;

use common::*;
use nrp_data::{Database, Table, Value};
use nrp_tensor::Cpu;

/// A random directed graph on `n` nodes with edge probability `p` (self-loops included),
/// weighted, as table `E(a, b, w)`, plus node features `X(v, x0, x1)`.
fn graph(n: usize, p: f64, seed: u64) -> (Database, Vec<Vec<bool>>) {
    let mut rng = Rng::new(seed);
    let mut adj = vec![vec![false; n]; n];
    let mut rows = vec![];
    for (a, row) in adj.iter_mut().enumerate() {
        for (b, cell) in row.iter_mut().enumerate() {
            if rng.chance(p) {
                *cell = true;
                let w = (rng.below(16) as f64 + 1.0) / 8.0;
                rows.push(vec![
                    Value::Int(a as i64),
                    Value::Int(b as i64),
                    Value::from_f64(w),
                ]);
            }
        }
    }
    let e = Table::from_rows("E", vec!["a".into(), "b".into(), "w".into()], &rows).unwrap();
    let xs: Vec<Vec<Value>> = (0..n)
        .map(|v| {
            vec![
                Value::Int(v as i64),
                Value::from_f64((rng.below(9) as f64 - 4.0) / 4.0),
                Value::from_f64((rng.below(9) as f64 - 4.0) / 4.0),
            ]
        })
        .collect();
    let x = Table::from_rows("X", vec!["v".into(), "x0".into(), "x1".into()], &xs).unwrap();
    (database(vec![e, x]), adj)
}

/// Engine and reference agree on every user relation of `text`; returns the engine's facts.
fn agree(db: &Database, text: &str) -> Vec<nrp_engine::Output> {
    let program = program(text, db);
    let params = nrp_params::init_parameters(&program.parameters(), 0).unwrap();
    let cpu = Cpu::new(2).unwrap();
    let rels: Vec<usize> = (0..program.relations.len())
        .filter(|&r| !program.relations[r].is_input() && !program.relations[r].is_auxiliary())
        .collect();
    differential(&program, db, &params, &rels, &cpu, 1e-5)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    engine_facts(&program, db, &params, &rels, &cpu).unwrap()
}

/// Per node x: the number of (y, z) with x→y→z→x (the engine's `count()` of the body).
fn brute_triangles(adj: &[Vec<bool>]) -> Vec<usize> {
    let n = adj.len();
    (0..n)
        .map(|x| {
            (0..n)
                .flat_map(|y| (0..n).map(move |z| (y, z)))
                .filter(|&(y, z)| adj[x][y] && adj[y][z] && adj[z][x])
                .count()
        })
        .collect()
}

/// The (node, count) facts of a unary count relation.
fn counts(o: &nrp_engine::Output) -> Vec<(i64, usize)> {
    o.rows
        .iter()
        .zip(&o.embeddings)
        .map(|(r, &c)| {
            (
                if let Value::Int(i) = r[0] {
                    i
                } else {
                    panic!("{r:?}")
                },
                c as usize,
            )
        })
        .collect()
}

#[test]
fn triangles_on_a_dense_graph() {
    for seed in 0..3 {
        let (db, adj) = graph(18, 0.3, seed);
        let out = agree(
            &db,
            "Tri(x; count()) :- E(x, y), E(y, z), E(z, x) .\n\
             TriW(x, y, z; a * b * c) :- E(x, y; a), E(y, z; b), E(z, x; c), x < y, x < z .\n\
             Proper(x; count()) :- E(x, y), E(y, z), E(z, x), x != y, y != z, z != x .\n\
             Msg(x; sum(Linear(2, 3)(f) * w)) :- E(x, y; w), E(y, z), E(z, x), X(z; f) .\n\
             Mx(x; max(Tanh()(Linear(2, 2)(f + g)))) :- E(x, y), E(y, z), E(z, x), X(y; f), X(z; g) .",
        );
        let brute = brute_triangles(&adj);
        let expected: Vec<(i64, usize)> = brute
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(x, c)| (x as i64, *c))
            .collect();
        assert!(
            expected.iter().map(|e| e.1).sum::<usize>() > 100,
            "a graph with many triangles"
        );
        assert_eq!(counts(&out[0]), expected, "seed {seed}");
        // Each directed triangle once from its smallest node (y = z: through a self-loop).
        let n = adj.len();
        let mut proper = 0;
        for x in 0..n {
            for y in x + 1..n {
                for z in x + 1..n {
                    proper += usize::from(adj[x][y] && adj[y][z] && adj[z][x]);
                }
            }
        }
        assert_eq!(out[1].rows.len(), proper, "seed {seed}");
    }
}

#[test]
fn four_cycles_and_cliques() {
    for seed in 0..3 {
        let (db, adj) = graph(10, 0.45, 10 + seed);
        let out = agree(
            &db,
            "Sq(a; count()) :- E(a, b), E(b, c), E(c, d), E(d, a) .\n\
             SqW(a, b, c, d; sum(w * Linear(2, 1)(f))) :- E(a, b; w), E(b, c), E(c, d), E(d, a), X(c; f), a < b, a < c, a < d .\n\
             K4(a; count()) :- E(a, b), E(a, c), E(a, d), E(b, c), E(b, d), E(c, d) .\n\
             Chord(a; mean(x * y)) :- E(a, b; x), E(b, c), E(c, d), E(d, a; y), E(a, c) .",
        );
        let n = adj.len();
        let mut sq = vec![0usize; n];
        let mut k4 = vec![0usize; n];
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    for d in 0..n {
                        sq[a] += usize::from(adj[a][b] && adj[b][c] && adj[c][d] && adj[d][a]);
                        k4[a] += usize::from(
                            adj[a][b]
                                && adj[a][c]
                                && adj[a][d]
                                && adj[b][c]
                                && adj[b][d]
                                && adj[c][d],
                        );
                    }
                }
            }
        }
        let nonzero = |v: &[usize]| -> Vec<(i64, usize)> {
            v.iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(x, c)| (x as i64, *c))
                .collect()
        };
        assert!(sq.iter().sum::<usize>() > 100, "a graph with many 4-cycles");
        assert_eq!(counts(&out[0]), nonzero(&sq), "seed {seed}");
        assert_eq!(counts(&out[2]), nonzero(&k4), "seed {seed}");
    }
}

/// A cycle through three different relations, one of them derived, and repeated variables.
#[test]
fn cycles_across_relations_and_self_loops() {
    let (db, _) = graph(14, 0.3, 99);
    agree(
        &db,
        "R(a, b; Linear(1, 2)([w])) :- E(a, b, w), a < b .\n\
         S(b, c) :- E(b, c, _), E(c, b, _) .\n\
         Cyc(a; sum(r * 2)) :- R(a, b; r), S(b, c), E(c, a, _) .\n\
         Loop(x; count()) :- E(x, x, _), E(x, y, _), E(y, x, _) .\n\
         Two(x, z; sum(a * b)) :- E(x, y; a), E(y, z; b) .",
    );
}

/// Grounding inside a thread pool splits large joins among the threads and reorders match
/// lists in parallel: relations and match lists must be those of sequential grounding, row
/// for row (plans and results depend on their order).
#[test]
fn grounding_in_a_pool_gives_the_sequential_match_lists() {
    // 300 nodes at p = 0.25: ~22k edges, so every multi-atom join below is split.
    let (db, _) = graph(300, 0.25, 5);
    let program = program(
        "Tri(x; count()) :- E(x, y, _), E(y, z, _), E(z, x, _) .\n\
         TriF(x, y, z) :- E(x, y, _), E(y, z, _), E(z, x, _), x < y .\n\
         Two(x, z; count()) :- E(x, y, _), E(y, z, _) .\n\
         Msg(z; sum(f)) :- X(y; f), E(y, z, _) .\n\
         Rev(b, a) :- E(a, b, _) .\n\
         U(a, b) :- E(a, b, _) | E(b, a, _) .\n\
         In(b; count()) :- E(_, b, _) .",
        &db,
    );
    let needed: Vec<usize> = (0..program.relations.len()).collect();
    let needed = program.closure(&needed);
    let sequential = nrp_engine::ground::Ground::new(&program, &db, &needed).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let pooled = pool.install(|| nrp_engine::ground::Ground::new(&program, &db, &needed).unwrap());
    let mut matches = 0;
    for rel in needed {
        let name = &program.relations[rel].name;
        let (a, b) = (&sequential.relations[rel], &pooled.relations[rel]);
        assert_eq!(
            a.as_ref().map(|r| &r.cols),
            b.as_ref().map(|r| &r.cols),
            "{name}"
        );
        let (Some(a), Some(b)) = (&sequential.rules[rel], &pooled.rules[rel]) else {
            continue;
        };
        for (x, y) in a.bodies.iter().zip(&b.bodies) {
            assert_eq!(
                (&x.rows, &x.vars, &x.head),
                (&y.rows, &y.vars, &y.head),
                "{name}"
            );
            matches += x.len();
        }
    }
    assert!(
        matches > 1_000_000,
        "joins large enough to split: {matches}"
    );
}

/// Bodies of one atom with variables beside atoms without any: a nullary relation, a tuple
/// of constants that is a fact, one that is not.
#[test]
fn atoms_without_variables_beside_one_with() {
    let (db, adj) = graph(14, 0.3, 21);
    let (a, b) = (0..14)
        .flat_map(|a| (0..14).map(move |b| (a, b)))
        .find(|&(a, b)| adj[a][b])
        .expect("an edge");
    agree(
        &db,
        &format!(
            "M(; max([w])) :- E(_, _, w) .\n\
             P(x, y) :- E(x, y, _) .\n\
             R(a; sum([w] - m)) :- E(a, _, w), M(; m) .\n\
             Q(c; sum(m * [w])) :- M(; m), E(c, {b}, w), P({a}, {b}) .\n\
             N(c; count()) :- E(c, _, _), P(99, 98) ."
        ),
    );
}

/// Two GCN layers read one adjacency through relations of the same nodes: the second
/// layer's match list is copied from the first's (same head, bodies, and content).
#[test]
fn layers_over_one_adjacency_share_their_match_list() {
    let (db, _) = graph(16, 0.3, 31);
    let text = "D(v; count()) :- E(_, v, _) .\n\
         N(u, v; 1 / sqrt(a * b)) :- E(u, v, _), D(u; a), D(v; b) .\n\
         A1(v; sum(Linear(2, 3)(x) * w)) :- X(u; x), N(u, v; w) .\n\
         H(v; ReLU()(a)) :- A1(v; a) .\n\
         A2(v; sum(Linear(3, 2)(h) * w)) :- H(u; h), N(u, v; w) .\n\
         Far(v; sum(h * w)) :- H(u; h), N(v, u; w) .";
    agree(&db, text);
    let program = program(text, &db);
    let needed = program.closure(&(0..program.relations.len()).collect::<Vec<_>>());
    let g = nrp_engine::ground::Ground::new(&program, &db, &needed).unwrap();
    let rule = |name: &str| g.rules[program.relation(name).unwrap()].as_ref().unwrap();
    let (a1, a2) = (&rule("A1").bodies[0], &rule("A2").bodies[0]);
    assert_eq!(
        (&a1.rows, &a1.vars, &a1.head),
        (&a2.rows, &a2.vars, &a2.head)
    );
    assert!(a1.len() > 20, "{} matches", a1.len());
}

/// Probing a large relation (indexed by its first variable) for values it lacks: the
/// driver moves on to its next value (a probe that found nothing once skipped the rest).
#[test]
fn probes_that_miss_an_indexed_relation() {
    let (db, _) = graph(60, 0.5, 41);
    agree(
        &db,
        "F(x, y) :- E(x, y, _), x > 10 .\n\
         S(a, x) :- E(a, x, _), a < 3 .\n\
         K(a; count()) :- S(a, x), F(x, y) .\n\
         L(y; count()) :- F(x, y), S(_, x) .",
    );
}
