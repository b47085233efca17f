//! Parser tests: the grammar, its errors, and the structure of RelaNN programs.

use super::*;
use crate::print::print_program;

fn round(s: &str) -> String {
    print_program(&parse(s).unwrap_or_else(|d| panic!("{}", d.message)))
}

fn err(s: &str) -> String {
    parse(s).unwrap_err().message
}

#[test]
fn parses_the_language_md_example() {
    let text = r#"#lang:relnn
hidden = 16 .
Lin1 = Linear(1433, hidden) .
Mlp  = Linear(64, 1)(ReLU()(Linear(32, 64)(inp))) .
X(id; sum([value] * OneHot(1433)([dim]))) :- Feature(id, dim, value) .
H(v; ReLU()(Lin1(z))) :- X(v; z) .
M(t; sum(z * w)) :- H(s; z), Edge(s, t; w) .
U(v; z) :- A(v; z) | B(v; z) .
P(a; z) :- Q(a, b; z), R(b, c), a != c, c == "x" .
?fit <epochs=200, lr=0.01, weight_decay=5e-4>
Loss(; CrossEntropyLoss()(p, y)) :- Out(v; p), Train(v; y) .
?pred Pred(v; ArgMax()(p)) :- Out(v; p) .
?pred Acc(; mean((p == y) * 1.0)) :- Pred(v; p), Test(v; y) .
"#;
    expect_test::expect![[r#"
        hidden = 16 .
        Lin1 = Linear(1433, hidden) .
        Mlp = Linear(64, 1)(ReLU()(Linear(32, 64)(inp))) .
        X(id; sum(([value] * OneHot(1433)([dim])))) :- Feature(id, dim, value) .
        H(v; ReLU()(Lin1(z))) :- X(v; z) .
        M(t; sum((z * w))) :- H(s; z), Edge(s, t; w) .
        U(v; z) :- A(v; z) | B(v; z) .
        P(a; z) :- Q(a, b; z), R(b, c), a != c, c == "x" .
        ?fit <epochs = 200, lr = 0.01, weight_decay = 5e-4> Loss(; CrossEntropyLoss()(p, y)) :- Out(v; p), Train(v; y) .
        ?pred Pred(v; ArgMax()(p)) :- Out(v; p) .
        ?pred Acc(; mean(((p == y) * 1.0))) :- Pred(v; p), Test(v; y) .
    "#]]
    .assert_eq(&round(text));
}

#[test]
fn precedence_and_associativity() {
    expect_test::expect![[r#"
        R(; ((a + (b * c) - (d / e)) == (-(f ** (-g))))) :- S(; a) .
    "#]]
    .assert_eq(&round("R(; a + b * c - d / e == -f ** -g) :- S(; a)."));
    // Comparisons bind looser than `+ -` (as in Python); `(a + b) * c` stays nested.
    expect_test::expect![[r#"
        R(; ((a + b) < (c * d))) :- S(; a) .
        R(; ((a - 1) >= b)) :- S(; a) .
        R(; (a != ((a + b) * c))) :- S(; a) .
        R(; ((a <= b) * (b > c))) :- S(; a) .
    "#]]
    .assert_eq(&round(
        "R(; a + b < c * d) :- S(; a). R(; a - 1 >= b) :- S(; a).
         R(; a != (a + b) * c) :- S(; a). R(; (a <= b) * (b > c)) :- S(; a).",
    ));
    expect_test::expect![[r#"
        R(; (a ** (b ** c))) :- S(; a) .
    "#]]
    .assert_eq(&round("R(; a ** b ** c) :- S(; a)."));
}

#[test]
fn keyword_args_negative_constants_and_classical_heads() {
    expect_test::expect![[r#"
        L = Linear(4, 2, bias = False) .
        P(x) :- Q(x, -1, "a b", _) .
        Z() :- Q(_, _) .
    "#]]
    .assert_eq(&round(
        "L = Linear(4, 2, bias=False). P(x) :- Q(x, -1, 'a b', _). Z() :- Q(_, _;).",
    ));
}

#[test]
fn syntax_errors_name_the_problem() {
    assert_eq!(
        err("H(v) :- A(v), B(v) | C(v)."),
        "a body cannot mix `,` and `|` (split it into two rules)"
    );
    assert_eq!(
        err("H(v) :- A(v) | B(v), C(v)."),
        "a body cannot mix `,` and `|` (split it into two rules)"
    );
    assert_eq!(
        err("H(v) :- A(v)"),
        "expected `.` at the end of the statement, found end of file"
    );
    assert_eq!(
        err("H(v) A(v)."),
        "expected `:-` after the head of `H`, found identifier `A`"
    );
    assert_eq!(
        err("H(v :- A(v)."),
        "expected `)` to close head `H`, found `:-`"
    );
    assert_eq!(
        err("?train H(v) :- A(v)."),
        "unknown statement `?train`; expected `?fit` or `?pred`"
    );
    assert_eq!(
        err("H(v) :- A(v), v = 1."),
        "`=` is for definitions; compare with `==`"
    );
    assert_eq!(
        err("?fit <epochs 3> L(; x) :- A(; x)."),
        "expected `=` after parameter `epochs`, found number `3`"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("x = {}1{} .", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(err(&deep), "expression nested too deeply");
    let deep = format!("x = {}1 .", "-".repeat(100_000));
    assert_eq!(err(&deep), "expression nested too deeply");
}

/// Found by fuzzing: `-` costs one level when written `--x` but two when printed
/// `(-(-x))`, so a program could parse while its printed form did not.
#[test]
fn deepest_accepted_expressions_round_trip() {
    let round_trips = |text: &str| {
        let mut p = parse(text).unwrap_or_else(|d| panic!("{}", d.message));
        let printed = print_program(&p);
        let mut q = parse(&printed).unwrap_or_else(|d| panic!("{}: {printed}", d.message));
        p.erase_spans();
        q.erase_spans();
        assert_eq!(p, q);
    };
    let n = MAX_DEPTH - 1;
    round_trips(&format!("x = {}e .", "-".repeat(n)));
    round_trips(&format!("x = e{} .", " ** -e".repeat(n / 2)));
    round_trips(&format!("x = e{} .", " - e".repeat(n)));
    round_trips(&format!("x = {}e{} .", "f(".repeat(n), ")".repeat(n)));
    round_trips(&format!(
        "x = {}-e{} .",
        "(-".repeat(n / 2),
        ")".repeat(n / 2)
    ));
    assert_eq!(
        err(&format!("x = {}e .", "-".repeat(n + 1))),
        "expression nested too deeply"
    );
}

/// A flat sum or product of any length is one node: it parses, prints and parses back
/// to the same AST. Only true nesting (`**`, calls, parentheses) is bounded.
#[test]
fn long_flat_chains_parse_and_only_nesting_is_bounded() {
    for op in ["+", "-", "*", "/"] {
        let chain = format!("x = a{} .", format!(" {op} a").repeat(100_000));
        let mut p = parse(&chain).unwrap_or_else(|d| panic!("{op}: {}", d.message));
        let Statement::Def(d) = &p.statements[0] else {
            panic!("a definition")
        };
        let ExprKind::Chain(_, rest) = &d.value.kind else {
            panic!("{op}: one chain")
        };
        assert_eq!(rest.len(), 100_000);
        assert!(rest.iter().all(|(o, _)| o.symbol() == op));
        let mut again = parse(&print_program(&p)).unwrap();
        p.erase_spans();
        again.erase_spans();
        assert_eq!(p, again, "{op}");
    }
    // Mixed levels: one sum of 5000 products of 3 factors.
    let mixed = format!("x = a * b / c{} .", " + a * b / c - d".repeat(5000));
    assert!(parse(&mixed).is_ok());
    let chain = format!("x = a{} .", " ** a".repeat(100_000));
    assert_eq!(err(&chain), "expression nested too deeply", "**");
    let calls = format!("x = f{} .", "(a)".repeat(100_000));
    assert_eq!(err(&calls), "expression nested too deeply");
    let nested = format!("x = {}a{} .", "(a + ".repeat(300), ")".repeat(300));
    assert_eq!(err(&nested), "expression nested too deeply");
    let parens = format!(
        "x = {}1{} .",
        "(".repeat(MAX_RECURSION),
        ")".repeat(MAX_RECURSION)
    );
    assert!(parse(&parens).is_ok());
}

#[test]
fn comparisons_do_not_chain() {
    assert_eq!(
        err("H(; a < b < c) :- S(; a)."),
        "comparisons do not chain: parenthesise one, e.g. `(a < b) < c`"
    );
    assert_eq!(
        err("H(; a == b != c) :- S(; a)."),
        "comparisons do not chain: parenthesise one, e.g. `(a == b) != c`"
    );
    assert!(parse("H(; (a < b) < c) :- S(; a).").is_ok());
}

/// In a body, a comparison of terms is a filter; in the head it is an element-wise
/// operation on embeddings.
#[test]
fn body_comparisons_are_filters() {
    let p = parse("H(a; x < y) :- A(a; x), B(a, b; y), a < b, b >= 2 .").unwrap();
    let Statement::Rule(r) = &p.statements[0] else {
        panic!("a rule")
    };
    let Body::Conj { atoms, filters } = &r.body else {
        panic!("a conjunction")
    };
    assert_eq!(atoms.len(), 2);
    let ops: Vec<_> = filters.iter().map(|f| f.op).collect();
    assert_eq!(ops, [CmpOp::Lt, CmpOp::Ge]);
    assert!(matches!(
        r.head.expr.as_ref().unwrap().kind,
        ExprKind::Binary(BinOp::Lt, ..)
    ));
}

#[test]
fn error_spans_point_at_the_token() {
    let d = parse("H(v) :-\n  A(v) B(v).").unwrap_err();
    assert_eq!(d.span, Some(Span::new(15, 16)));
}

#[test]
fn term_errors_say_where() {
    assert_eq!(
        err("H() :- ."),
        "expected an atom such as `Edge(u, v)` or a filter such as `a != b`, found `.`"
    );
    assert_eq!(
        err("H(v) :- A(v), v < ."),
        "expected an expression, found `.`"
    );
    assert_eq!(
        err("H(v; [v, ]) :- A(v)."),
        "expected a term (variable, constant or `_`) in an encode `[…]`, found `]`"
    );
    assert_eq!(
        err("H(v, ;) :- A(v)."),
        "expected a term (variable, constant or `_`) in `H(…)`, found `;`"
    );
}

#[test]
fn end_of_file_errors_point_after_the_last_token() {
    let d = parse("H(v) :- A(v)\n\n# done\n").unwrap_err();
    assert_eq!(
        d.message,
        "expected `.` at the end of the statement, found end of file"
    );
    assert_eq!(d.span, Some(Span::new(12, 12)));
}

mod structure {
    use super::*;
    use crate::print::print_program;

    fn round(s: &str) -> String {
        let p = parse(s).unwrap_or_else(|d| panic!("{}", d.message));
        let text = print_program(&p);
        // What prints parses back to the same program.
        let mut again = parse(&text).unwrap_or_else(|d| panic!("{}\n{text}", d.message));
        let mut p = p;
        p.erase_spans();
        again.erase_spans();
        assert_eq!(p, again, "{text}");
        text
    }

    #[test]
    fn templates_functions_and_bounded_sets_round_trip() {
        expect_test::expect![[r#"
            K<L, "t", 0> = Linear(d, d) .
            H<t, L>(v; sum(K<L, t, 0>(z))) :- H<t, (L - 1)>(u; z), Link(u, v) .
            def F<T>(A: (int; T), B) -> (int; T):
                d = 2 .
                Out(v; z) :- A(v; z), B(v) .
            enddef
            O(v; Concat(*z)) :- Join(Set(W<i>(v; z) | 1 <= i, i <= h)) .
            U(v; z) :- Union(Set(M<s, e>(v; z) | Schema(s, e, "P"), s != "Q")) .
            C(v; z) :- F<3>(X, H<"A", 1>)(v; z), G()(v), P(v; 0), (x + 1) > y .
        "#]]
        .assert_eq(&round(
            "K<L, 't', 0>= Linear(d, d) .\n\
             H<t, L>(v; sum(K<L, t, 0>(z))) :- H<t, L-1>(u; z), Link(u, v) .\n\
             def F<T>(A: (int; T), B) -> (int; T):\n  d = 2 .\n  Out(v; z) :- A(v; z), B(v) .\nenddef\n\
             O(v; Concat(*z)) :- Join(Set(W<i>(v; z) | 1 <= i, i <= h)) .\n\
             U(v; z) :- Union(Set(M<s, e>(v; z) | Schema(s, e, 'P'), s != 'Q')) .\n\
             C(v; z) :- F<3>(X, H<'A', 1>)(v; z), G()(v), P(v; 0), x + 1 > y .\n",
        ));
    }

    #[test]
    fn a_name_touching_less_than_is_a_comparison_in_filters_and_expressions() {
        // `x<y, y>(x)` would be the atom `x<y, y>(x)`: a name touching `<` then `>(`
        // reads as template arguments; with a space it is a comparison.
        let p = parse("H(v; a<b) :- A(v; a), B(v; b), x < y, y>(x) .").unwrap();
        let Statement::Rule(r) = &p.statements[0] else {
            panic!()
        };
        assert!(matches!(
            r.head.expr.as_ref().unwrap().kind,
            ExprKind::Binary(BinOp::Lt, ..)
        ));
        let Body::Conj { atoms, filters } = &r.body else {
            panic!()
        };
        assert_eq!((atoms.len(), filters.len()), (2, 2));
        let p = parse("H(v) :- A(v), x<y>(v) .").unwrap();
        let Statement::Rule(r) = &p.statements[0] else {
            panic!()
        };
        assert!(matches!(&r.body, Body::Conj { atoms, .. } if atoms[1].targs.len() == 1));
    }

    #[test]
    fn structure_errors_say_what_is_expected() {
        assert_eq!(
            err("def F(A):\n  Out(v) :- A(v) .\n"),
            "`def F` is not closed: expected `enddef`"
        );
        assert_eq!(
            err("def F(A):\n  k = 1 .\nenddef"),
            "function `F` has no rule: its last rule is its value"
        );
        assert_eq!(
            err("def F(A):\n  ?pred Out(v) :- A(v) .\nenddef"),
            "`?fit` and `?pred` are not allowed inside a function: close `F` with `enddef` first"
        );
        assert_eq!(
            err("O(v) :- Union(Set(W<i>(v) | 1 <= i, i <= 2)), A(v) ."),
            "a `Union(Set(…))` body stands alone: put other atoms and filters in the set's bounding or in another rule"
        );
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().message
    }
}
