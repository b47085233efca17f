//! Expansion snapshots: program in, plain program out (and the instances), so that a bug
//! in expansion cannot hide behind the two evaluators reading the same expanded rules.
//! `UPDATE_EXPECT=1 cargo test -p nrp-expand` rewrites the expectations.

use expect_test::{Expect, expect};
use nrp_data::{Database, Table, Value};
use nrp_expand::{Options, expand};
use nrp_syntax::{Source, parse, print::print_program};

fn meta_db() -> Database {
    let s = |x: &str| Value::Str(x.into());
    let schema = Table::from_rows(
        "Schema",
        vec!["src".into(), "edge".into(), "dst".into()],
        &[
            vec![s("Ping"), s("LinkA"), s("Pong")],
            vec![s("Pong"), s("LinkB"), s("Pong")],
            vec![s("Pong"), s("LinkC"), s("Ping")],
        ],
    )
    .unwrap();
    let layers = Table::from_rows(
        "Layers",
        vec!["k".into()],
        &[
            vec![Value::Int(1)],
            vec![Value::Int(2)],
            vec![Value::Int(2)],
        ],
    )
    .unwrap();
    Database::from_tables("mem", vec![schema, layers]).unwrap()
}

fn render(text: &str, db: Option<&Database>, options: &Options) -> String {
    let src = Source::new("p.nrp", text);
    let program = parse(text).unwrap_or_else(|d| panic!("{}", d.render(&src)));
    match expand(&program, db.map(|d| d as &dyn nrp_data::Catalogue), options) {
        Ok(x) => {
            let mut out = print_program(&x.program);
            if !x.instances.is_empty() {
                out.push_str("-- instances\n");
                for i in &x.instances {
                    let (l, _) = src.line_col(i.used.start);
                    out.push_str(&format!(
                        "{} ({} {}, used on line {l}, depth {})\n",
                        i.key,
                        i.kind.name(),
                        i.template,
                        i.depth
                    ));
                }
            }
            out
        }
        Err(d) => d.render(&src),
    }
}

fn check(text: &str, expected: Expect) {
    expected.assert_eq(&render(text, Some(&meta_db()), &Options::default()));
}

#[test]
fn plain_programs_are_unchanged() {
    check(
        "H(v; sum(z * w)) :- X(u; z), E(u, v; w), u != v .\n?pred P(v; ArgMax()(h)) :- H(v; h) .\n",
        expect![[r#"
            H(v; sum((z * w))) :- X(u; z), E(u, v; w), u != v .
            ?pred P(v; ArgMax()(h)) :- H(v; h) .
        "#]],
    );
}

#[test]
fn templated_modules_get_one_instance_per_distinct_key() {
    check(
        "d = 4 .\nK<L, t> = Linear(d, d) .\nW<n> = Linear(2, n) .\n\
         H(v; K<1, 'paper'>(z) + K<1, \"paper\">(z) + K<2, paper>(z)) :- X(v; z) .\n\
         G(v; W<d / 2>(z) + W<2>(z)) :- X(v; z) .\n",
        expect![[r#"
            d = 4 .
            K<1,paper> = Linear(d, d) .
            K<2,paper> = Linear(d, d) .
            H(v; (K<1,paper>(z) + K<1,paper>(z) + K<2,paper>(z))) :- X(v; z) .
            W<2> = Linear(2, 2) .
            G(v; (W<2>(z) + W<2>(z))) :- X(v; z) .
            -- instances
            K<1,paper> (module K<L, t>, used on line 4, depth 1)
            K<2,paper> (module K<L, t>, used on line 4, depth 1)
            W<2> (module W<n>, used on line 5, depth 1)
        "#]],
    );
}

#[test]
fn specialisation_picks_the_most_specific_definition_and_recursion_unrolls() {
    check(
        "H<'Ping', 0>(v; z) :- Ping(v; z) .\n\
         H<t, 0>(v; z * 0) :- Other(v; z) .\n\
         H<t, L>(v; sum(z)) :- H<t, L-1>(u; z), Link(u, v) .\n\
         Final(v; z) :- H<'Ping', 2>(v; z) .\n\
         Side(v; z) :- H<Pong, 1>(v; z) .\n",
        expect![[r#"
            H<Ping,0>(v; z) :- Ping(v; z) .
            H<Ping,1>(v; sum(z)) :- H<Ping,0>(u; z), Link(u, v) .
            H<Ping,2>(v; sum(z)) :- H<Ping,1>(u; z), Link(u, v) .
            Final(v; z) :- H<Ping,2>(v; z) .
            H<Pong,0>(v; (z * 0)) :- Other(v; z) .
            H<Pong,1>(v; sum(z)) :- H<Pong,0>(u; z), Link(u, v) .
            Side(v; z) :- H<Pong,1>(v; z) .
            -- instances
            H<Ping,2> (rule H<t, L>, used on line 4, depth 1)
            H<Ping,1> (rule H<t, L>, used on line 3, depth 2)
            H<Ping,0> (rule H<"Ping", 0>, used on line 3, depth 3)
            H<Pong,1> (rule H<t, L>, used on line 5, depth 1)
            H<Pong,0> (rule H<t, 0>, used on line 3, depth 2)
        "#]],
    );
}

#[test]
fn functions_rename_their_locals_and_bind_their_parameters() {
    check(
        "Lin = Linear(4, 4) .\n\
         def Layer(Nodes, Edges):\n\
         \x20   k = 2 .\n\
         \x20   Loc = Linear(4, 4) .\n\
         \x20   Msg(t; sum(Lin(z) * w)) :- Nodes(s; z), Edges(s, t; w) .\n\
         \x20   Out(t; Loc(z) * k) :- Msg(t; z) .\n\
         enddef\n\
         def Two(N, E):\n\
         \x20   Mid(v; z) :- Layer(N, E)(v; z) .\n\
         \x20   Out(v; z) :- Layer(Mid, E)(v; z) .\n\
         enddef\n\
         A(v; z) :- Two(X, Cites)(v; z) .\n\
         B(v; z) :- Layer(X, Cites)(v; z) .\n",
        expect![[r#"
            Lin = Linear(4, 4) .
            Layer(X,Cites).k = 2 .
            Layer(X,Cites).Loc = Linear(4, 4) .
            Layer(X,Cites).Msg(t; sum((Lin(z) * w))) :- X(s; z), Cites(s, t; w) .
            Layer(X,Cites).Out(t; (Layer(X,Cites).Loc(z) * Layer(X,Cites).k)) :- Layer(X,Cites).Msg(t; z) .
            Layer(Two(X,Cites).Mid,Cites).k = 2 .
            Layer(Two(X,Cites).Mid,Cites).Loc = Linear(4, 4) .
            Layer(Two(X,Cites).Mid,Cites).Msg(t; sum((Lin(z) * w))) :- Two(X,Cites).Mid(s; z), Cites(s, t; w) .
            Layer(Two(X,Cites).Mid,Cites).Out(t; (Layer(Two(X,Cites).Mid,Cites).Loc(z) * Layer(Two(X,Cites).Mid,Cites).k)) :- Layer(Two(X,Cites).Mid,Cites).Msg(t; z) .
            Two(X,Cites).Mid(v; z) :- Layer(X,Cites).Out(v; z) .
            Two(X,Cites).Out(v; z) :- Layer(Two(X,Cites).Mid,Cites).Out(v; z) .
            A(v; z) :- Two(X,Cites).Out(v; z) .
            B(v; z) :- Layer(X,Cites).Out(v; z) .
            -- instances
            Two(X,Cites) (function Two, used on line 12, depth 1)
            Layer(X,Cites) (function Layer, used on line 9, depth 2)
            Layer(Two(X,Cites).Mid,Cites) (function Layer, used on line 10, depth 2)
        "#]],
    );
}

#[test]
fn templated_functions_with_guards_expand_the_hgt_idiom() {
    check(
        "Wt<e> = Linear(8, 8) .\n\
         H<'Ping', 0>(v; z) :- Ping(v; z) .\n\
         H<'Pong', 0>(v; z) :- Pong(v; z) .\n\
         def Msg<L, st, e>():\n\
         \x20   Out(t; sum(Wt<e>(z) * w)) :- H<st, L-1>(s; z), e(s, t; w) .\n\
         enddef\n\
         def H<tt, L>():\n\
         \x20   Out(t; sum(z)) :- Union(Set(Msg<L, st, e>(t; z) | Schema(st, e, tt))) .\n\
         enddef\n\
         Final(v; z) :- H<'Pong', 1>(v; z) .\n",
        expect![[r#"
            H<Ping,0>(v; z) :- Ping(v; z) .
            Wt<LinkA> = Linear(8, 8) .
            Msg<1,Ping,LinkA>.Out(t; sum((Wt<LinkA>(z) * w))) :- H<Ping,0>(s; z), LinkA(s, t; w) .
            H<Pong,0>(v; z) :- Pong(v; z) .
            Wt<LinkB> = Linear(8, 8) .
            Msg<1,Pong,LinkB>.Out(t; sum((Wt<LinkB>(z) * w))) :- H<Pong,0>(s; z), LinkB(s, t; w) .
            H<Pong,1>.Out(t; sum(z)) :- Msg<1,Ping,LinkA>.Out(t; z) | Msg<1,Pong,LinkB>.Out(t; z) .
            Final(v; z) :- H<Pong,1>.Out(v; z) .
            -- instances
            H<Pong,1> (function H<tt, L>, used on line 10, depth 1)
            Msg<1,Ping,LinkA> (function Msg<L, st, e>, used on line 8, depth 2)
            Msg<1,Pong,LinkB> (function Msg<L, st, e>, used on line 8, depth 2)
            H<Ping,0> (rule H<"Ping", 0>, used on line 5, depth 3)
            Wt<LinkA> (module Wt<e>, used on line 5, depth 3)
            H<Pong,0> (rule H<"Pong", 0>, used on line 5, depth 3)
            Wt<LinkB> (module Wt<e>, used on line 5, depth 3)
        "#]],
    );
}

#[test]
fn joins_over_ranges_split_their_embedding_variable() {
    check(
        "h = 3 .\n\
         W<i>(v; z * i) :- X(v; z) .\n\
         Cat(v; Concat(*z)) :- Join(Set(W<i>(v; z) | 1 <= i, i <= h)) .\n\
         Two(v; z_1 + z_2) :- Join(Set(W<i>(v; z) | i >= 1, i < 3)) .\n\
         Sum(v; z) :- Union(Set(W<k>(v; z) | Layers(k))) .\n\
         Some(v; z) :- Union(Set(W<k>(v; z) | Layers(k), k != 1)) .\n",
        expect![[r#"
            h = 3 .
            W<1>(v; (z * 1)) :- X(v; z) .
            W<2>(v; (z * 2)) :- X(v; z) .
            W<3>(v; (z * 3)) :- X(v; z) .
            Cat(v; Concat(z_1, z_2, z_3)) :- W<1>(v; z_1), W<2>(v; z_2), W<3>(v; z_3) .
            Two(v; (z_1 + z_2)) :- W<1>(v; z_1), W<2>(v; z_2) .
            Sum(v; z) :- W<1>(v; z) | W<2>(v; z) .
            Some(v; z) :- W<2>(v; z) .
            -- instances
            W<1> (rule W<i>, used on line 3, depth 1)
            W<2> (rule W<i>, used on line 3, depth 1)
            W<3> (rule W<i>, used on line 3, depth 1)
        "#]],
    );
}

#[test]
fn local_templates_see_the_function_parameters_and_parts_come_first() {
    check(
        "M<a> = Linear(2, 2) .\n\
         A<k> = Linear(2, 2) .\n\
         B<k> = A<k>(inp) .\n\
         def G<a>():\n\
         \x20   W<i>(x; M<a>(z) * a * i) :- T(x; z) .\n\
         \x20   Out(x; B<a>(z)) :- W<1>(x; z) .\n\
         enddef\n\
         Y1(x; z) :- G<1>()(x; z) .\n\
         Y2(x; z) :- G<2>(x; z) .\n",
        expect![[r#"
            M<1> = Linear(2, 2) .
            G<1>.W<1>(x; (M<1>(z) * 1 * 1)) :- T(x; z) .
            A<1> = Linear(2, 2) .
            B<1> = A<1>(inp) .
            G<1>.Out(x; B<1>(z)) :- G<1>.W<1>(x; z) .
            Y1(x; z) :- G<1>.Out(x; z) .
            M<2> = Linear(2, 2) .
            G<2>.W<1>(x; (M<2>(z) * 2 * 1)) :- T(x; z) .
            A<2> = Linear(2, 2) .
            B<2> = A<2>(inp) .
            G<2>.Out(x; B<2>(z)) :- G<2>.W<1>(x; z) .
            Y2(x; z) :- G<2>.Out(x; z) .
            -- instances
            G<1> (function G<a>, used on line 8, depth 1)
            G<1>.W<1> (rule W<i>, used on line 6, depth 2)
            B<1> (module B<k>, used on line 6, depth 2)
            M<1> (module M<a>, used on line 5, depth 3)
            A<1> (module A<k>, used on line 3, depth 3)
            G<2> (function G<a>, used on line 9, depth 1)
            G<2>.W<1> (rule W<i>, used on line 6, depth 2)
            B<2> (module B<k>, used on line 6, depth 2)
            M<2> (module M<a>, used on line 5, depth 3)
            A<2> (module A<k>, used on line 3, depth 3)
        "#]],
    );
}
