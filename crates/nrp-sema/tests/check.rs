//! Snapshot tests of checked programs (no database: input dimensions are unknown unless
//! the program fixes them) and of every semantic error.

use nrp_sema::display;
use nrp_syntax::{Source, parse};

fn listing(text: &str) -> String {
    let ast = parse(text).unwrap_or_else(|d| panic!("{}", d.render(&Source::new("t.nrp", text))));
    let p = nrp_sema::check(&ast, None)
        .unwrap_or_else(|d| panic!("{}", d.render(&Source::new("t.nrp", text))));
    format!(
        "relations:\n{}modules:\n{}rules:\n{}fragments: {}\n",
        display::relations(&p),
        display::modules(&p),
        display::rules(&p),
        p.fragments.names().join(", ")
    )
}

fn error(text: &str) -> String {
    let src = Source::new("t.nrp", text);
    let ast = match parse(text) {
        Ok(a) => a,
        Err(d) => return d.render(&src),
    };
    match nrp_sema::check(&ast, None) {
        Ok(_) => panic!("expected an error"),
        Err(d) => d.render(&src),
    }
}

#[test]
fn gcn_program() {
    expect_test::expect![[r#"
        relations:
          relation  kind       arity  dim   defined by
          X         derived    1      1433  conjunction
          H         derived    1      16    transformation
          Out       derived    1      7     transformation
          A         derived    1      1433  conjunction
          Train     derived    1      1     conjunction
          Test      derived    1      1     conjunction
          Loss      derived    0      1     conjunction
          Pred      derived    1      1     transformation
          Acc       derived    0      1     conjunction
          Feature   input      3      0     table Feature (no database), first 3 columns
          Edge      input      2      0     table Edge (no database), first 2 columns
          Node      input      3      0     table Node (no database), first 3 columns
          Out#agg   auxiliary  1      16    conjunction
        modules:
          module  kind                parameters
          Lin1    Linear(1433, 16)    Lin1.weight [16, 1433], Lin1.bias [16]
          Lin2    Linear(16, 7)       Lin2.weight [7, 16], Lin2.bias [7]
          X.0     OneHot(1433)        -
          H.0     ReLU()              -
          Loss.0  CrossEntropyLoss()  -
          Pred.0  ArgMax()            -
        rules:
          X(id; sum(([value] * X.0([dim])))) :- Feature(id, dim, value) .    # conjunction
          A(t; sum(z)) :- X(s; z), Edge(s, t) .    # conjunction
          H(v; H.0(Lin1(z))) :- A(v; z) .    # transformation
          Out#agg(t; sum(z)) :- H(s; z), Edge(s, t) .    # conjunction
          Out(v0; Lin2(e)) :- Out#agg(v0; e) .    # transformation
          Train(v; sum([y])) :- Node(v, y, "train") .    # conjunction
          Test(v; sum([y])) :- Node(v, y, "test") .    # conjunction
          Loss(; mean(Loss.0(p, y))) :- Out(v; p), Train(v; y) .    # conjunction
          Pred(v; Pred.0(p)) :- Out(v; p) .    # transformation
          Acc(; mean(((p == y) * 1))) :- Pred(v; p), Test(v; y) .    # conjunction
        fragments: monadic, frontier-guarded, disjunction-free
    "#]]
    .assert_eq(&listing(
        r#"
hidden = 16 .
Lin1 = Linear(1433, hidden) .
Lin2 = Linear(hidden, 7) .
X(id; sum([value] * OneHot(1433)([dim]))) :- Feature(id, dim, value) .
H(v; ReLU()(Lin1(z))) :- A(v; z) .
Out(t; Lin2(sum(z))) :- H(s; z), Edge(s, t) .
A(t; z) :- X(s; z), Edge(s, t) .
Train(v; [y]) :- Node(v, y, "train") .
Test(v; [y]) :- Node(v, y, "test") .
?fit <epochs=200, lr=0.01, weight_decay=5e-4>
Loss(; CrossEntropyLoss()(p, y)) :- Out(v; p), Train(v; y) .
?pred Pred(v; ArgMax()(p)) :- Out(v; p) .
?pred Acc(; mean((p == y) * 1.0)) :- Pred(v; p), Test(v; y) .
"#,
    ));
}

#[test]
fn unions_several_rules_and_composites() {
    expect_test::expect![[r#"
        relations:
          relation  kind       arity  dim  defined by
          U         derived    1      2    union
          A         derived    1      2    conjunction
          B         derived    1      2    conjunction
          R         derived    1      1    union
          C         derived    0      1    conjunction
          E         input      2      0    table E (no database), first 2 columns
          R#1       auxiliary  1      1    transformation
          R#2       auxiliary  1      1    transformation
        modules:
          module  kind          parameters
          Mlp.0   Linear(2, 4)  Mlp.0.weight [4, 2], Mlp.0.bias [4]
          Mlp.1   ReLU()        -
          Mlp.2   Linear(4, 1)  Mlp.2.weight [1, 4], Mlp.2.bias [1]
          R.0     Linear(2, 1)  R.0.weight [1, 2], R.0.bias [1]
        rules:
          A(v; sum([v, v])) :- E(v, _1) .    # conjunction
          B(v; sum([v, 1])) :- E(_1, v) .    # conjunction
          U(v; sum(z)) :- A(v; z) | B(v; w) .    # union
          R#1(v; Mlp.2(Mlp.1(Mlp.0(z)))) :- U(v; z) .    # transformation
          R#2(v; (R.0(z) * 2)) :- A(v; z) .    # transformation
          R(v0; sum(e)) :- R#1(v0; e) | R#2(v0; e) .    # union
          C(; count()) :- E(a, b), E(b, c), E(c, a), a < b .    # conjunction
        fragments: monadic, frontier-guarded
    "#]]
    .assert_eq(&listing(
        r#"
Mlp = Linear(4, 1)(ReLU()(Linear(2, 4)(inp))) .
U(v; sum(t)) :- A(v; z) | B(v; w) .
A(v; [v, v]) :- E(v, _) .
B(v; [v, 1]) :- E(_, v) .
R(v; Mlp(z)) :- U(v; z) .
R(v; Linear(2, 1)(z) * 2) :- A(v; z) .
C(; count()) :- E(a, b), E(b, c), E(c, a), a < b .
"#,
    ));
}

#[test]
fn semantic_errors_are_located() {
    let cases = [
        "H(v; z) :- A(v; z), B(v; z) .",
        "H(v, w; z) :- A(v; z) .",
        "H(_; z) :- A(v; z) .",
        "H(v; q) :- A(v; z) .",
        "H(v; v) :- A(v; z) .",
        "H(v; z) :- A(v; z), v != w .",
        "A(v; z) :- B(v; z) . B(v; z) :- C(v; z) . C(v; z) :- A(v; z) .",
        "H(v; [v, v] * [v, v, v]) :- A(v) .",
        "L = Linear(3, 2) . H(v; L([v, v])) :- A(v) .",
        "H(v; CrossEntropyLoss()(z, z)) :- A(v; z) .",
        "H(; 2 * MSELoss()(z, z)) :- A(v; z) .",
        "H(v; sum(z) + mean(z)) :- A(v; z) .",
        "H(v; Linear(3, 2)) :- A(v; z) .",
        "H(v; Linear(3)(z)) :- A(v; z) .",
        "H(v; Foo(z)) :- A(v; z) .",
        "H(v) :- A(v) . H(v, w) :- B(v, w) .",
        "H(v) :- A(v) . G(v) :- H(v, v) .",
        "H(v; [v]) :- A(v) . H(v; [v, v]) :- B(v) .",
        "U(v; z) :- A(v; z) | B(w; z) .",
        "?fit <epochs=-1> L(; mean(z)) :- A(v; z) .",
        "?fit <optimiser=adam> L(; mean(z)) :- A(v; z) .",
        "?fit L(v; z) :- A(v; z) .",
        "?fit <select=Nope> L(; mean(z)) :- A(v; z) .",
        "hidden = 16 . hidden = 32 .",
        "x = y + w .",
        "Softmax = 3 .",
        "H(v; Softmax(0)(z)) :- A(v; z) .",
        "H(v; \"a\") :- A(v) .",
    ];
    let out: String = cases
        .iter()
        .map(|c| error(c))
        .collect::<Vec<_>>()
        .join("\n");
    expect_test::expect![[r#"
        t.nrp:1:26: error: embedding variable `z` is bound twice
          |
        1 | H(v; z) :- A(v; z), B(v; z) .
          |                          ^
          = note: each atom's embedding needs its own name; combine them in the head expression

        t.nrp:1:6: error: unsafe rule: head variable `w` does not occur in a body atom
          |
        1 | H(v, w; z) :- A(v; z) .
          |      ^

        t.nrp:1:3: error: `_` cannot appear in a head: every head term must be bound by the body
          |
        1 | H(_; z) :- A(v; z) .
          |   ^

        t.nrp:1:6: error: unknown name `q`
          |
        1 | H(v; q) :- A(v; z) .
          |      ^
          = note: embedding variables here: `z`

        t.nrp:1:6: error: `v` is a content variable, not an embedding
          |
        1 | H(v; v) :- A(v; z) .
          |      ^
          = note: encode content as a vector with `[v]`

        t.nrp:1:26: error: unsafe filter: `w` does not occur in a body atom
          |
        1 | H(v; z) :- A(v; z), v != w .
          |                          ^

        t.nrp:1:54: error: recursive rules are not supported: A -> B -> C -> A
          |
        1 | A(v; z) :- B(v; z) . B(v; z) :- C(v; z) . C(v; z) :- A(v; z) .
          |                                                      ^^^^^^^ `A` depends on itself here
          = note: v1 programs must be non-recursive; unroll the recursion into layers

        t.nrp:1:6: error: dimension mismatch in `*`: the left operand is 2-dimensional, the right one 3-dimensional
          |
        1 | H(v; [v, v] * [v, v, v]) :- A(v) .
          |      ^^^^^^^^^^^^^^^^^^
          = note: element-wise operators need equal dimensions; only a 1-dimensional operand broadcasts

        t.nrp:1:27: error: `L` (Linear(3, 2)) expects an input of dimension 3, got 2
          |
        1 | L = Linear(3, 2) . H(v; L([v, v])) :- A(v) .
          |                           ^^^^^^

        t.nrp:1:1: error: a loss reduces over all matches, so its head must be zero-ary: write `H(; …)`
          |
        1 | H(v; CrossEntropyLoss()(z, z)) :- A(v; z) .
          | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^

        t.nrp:1:9: error: a loss must be the outermost call of the head expression
          |
        1 | H(; 2 * MSELoss()(z, z)) :- A(v; z) .
          |         ^^^^^^^^^^^^^^^

        t.nrp:1:15: error: a head expression may contain only one aggregation
          |
        1 | H(v; sum(z) + mean(z)) :- A(v; z) .
          |               ^^^^^^^
          = note: aggregate in one rule, then transform the result in another

        t.nrp:1:6: error: module `Linear(3, 2)` is created but not applied
          |
        1 | H(v; Linear(3, 2)) :- A(v; z) .
          |      ^^^^^^^^^^^^
          = note: apply it to an embedding: `Linear(3, 2)(z)`

        t.nrp:1:6: error: `Linear` needs its argument `out_features`
          |
        1 | H(v; Linear(3)(z)) :- A(v; z) .
          |      ^^^^^^^^^
          = note: signature: Linear(in_features, out_features, bias=True)

        t.nrp:1:6: error: unknown function or module `Foo`
          |
        1 | H(v; Foo(z)) :- A(v; z) .
          |      ^^^
          = note: modules: Linear, Embedding, LayerNorm, Dropout, ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax, Identity, OneHot, ArgMax, CrossEntropyLoss, MSELoss, L1Loss, BCEWithLogitsLoss, BCELoss, NLLLoss, Tensor; functions: exp, log, sqrt, abs, relu, sigmoid, tanh, round, Concat

        t.nrp:1:16: error: `H` has 2 content terms here but 1 in its first rule
          |
        1 | H(v) :- A(v) . H(v, w) :- B(v, w) .
          |                ^^^^^^^

        t.nrp:1:24: error: `H` has 1 content term (see its rules) but is used here with 2
          |
        1 | H(v) :- A(v) . G(v) :- H(v, v) .
          |                        ^^^^^^^

        t.nrp:1:21: error: `H` gets a 2-dimensional embedding here but a 1-dimensional one from its first rule or branch
          |
        1 | H(v; [v]) :- A(v) . H(v; [v, v]) :- B(v) .
          |                     ^^^^^^^^^^^^^^^^^^^^
          = note: every rule and union branch of one relation must give embeddings of the same dimension

        t.nrp:1:22: error: unsafe rule: head variable `v` does not occur in the union branch `B`
          |
        1 | U(v; z) :- A(v; z) | B(w; z) .
          |                      ^^^^^^^
          = note: every branch of a union must bind every head variable

        t.nrp:1:14: error: `epochs` must be a non-negative integer, got -1
          |
        1 | ?fit <epochs=-1> L(; mean(z)) :- A(v; z) .
          |              ^^

        t.nrp:1:7: error: unknown `?fit` parameter `optimiser`
          |
        1 | ?fit <optimiser=adam> L(; mean(z)) :- A(v; z) .
          |       ^^^^^^^^^
          = note: parameters: epochs, lr, weight_decay, optimizer, momentum, seed, eval_every, patience, select, decay

        t.nrp:1:6: error: `?fit` minimises a zero-ary, 1-dimensional relation; `L` has 1 content term and dimension ?
          |
        1 | ?fit L(v; z) :- A(v; z) .
          |      ^^^^^^^

        t.nrp:1:14: error: `select`: no rule defines `Nope`
          |
        1 | ?fit <select=Nope> L(; mean(z)) :- A(v; z) .
          |              ^^^^

        t.nrp:1:15: error: `hidden` is defined twice
          |
        1 | hidden = 16 . hidden = 32 .
          |               ^^^^^^

        t.nrp:1:9: error: `x` has 2 unbound names, `y`, `w`; a composite module has exactly one input
          |
        1 | x = y + w .
          |         ^ a second unbound name
          = note: names that are not constants or modules defined before are inputs: is one of them a misspelt constant?

        t.nrp:1:1: error: `Softmax` is a built-in name and cannot be redefined
          |
        1 | Softmax = 3 .
          | ^^^^^^^

        t.nrp:1:14: error: `Softmax` works over the embedding axis: `dim` must be 1 or -1, got 0
          |
        1 | H(v; Softmax(0)(z)) :- A(v; z) .
          |              ^

        t.nrp:1:6: error: a string is not an embedding
          |
        1 | H(v; "a") :- A(v) .
          |      ^^^
          = note: content values become embeddings with an encode: `[col]`
    "#]].assert_eq(&out);
}

/// The encoded variables of each branch of the union defining `rel`, by name.
fn union_branch_encodes(text: &str, rel: &str) -> Vec<String> {
    let p = nrp_sema::check(&parse(text).unwrap(), None).unwrap();
    let id = p.relation(rel).unwrap();
    let nrp_sema::RelKind::Derived(nrp_sema::CoreRule::Union { branches, .. }) =
        &p.relations[id].kind
    else {
        panic!("{rel} is not a union")
    };
    branches
        .iter()
        .map(|b| display::expr_text(&p, &b.body, b.expr.as_ref().unwrap()))
        .collect()
}

#[test]
fn union_heads_encode_each_branch_variable_by_name() {
    // `x` is the second column of P but the third of Q: each branch encodes its own `x`.
    assert_eq!(
        union_branch_encodes("U(v; sum([x, v])) :- P(v, x, y) | Q(v, y, x) .", "U"),
        ["[x, v]", "[x, v]"]
    );
    let p = nrp_sema::check(
        &parse("U(v; sum([x])) :- P(v, x, y) | Q(v, y, x) .").unwrap(),
        None,
    )
    .unwrap();
    let nrp_sema::RelKind::Derived(nrp_sema::CoreRule::Union { branches, .. }) =
        &p.relations[p.relation("U").unwrap()].kind
    else {
        panic!()
    };
    let var = |b: usize| match &branches[b].expr.as_ref().unwrap().kind {
        nrp_sema::ExprKind::Encode(t, ..) => t[0].clone(),
        _ => panic!(),
    };
    assert_eq!(var(0), nrp_sema::Term::Var(1));
    assert_eq!(var(1), nrp_sema::Term::Var(2));
}

#[test]
fn union_errors_name_the_branch() {
    let out = [
        "W(v; sum([x])) :- P(v, x, y) | Q(v, y, z) .",
        "U(v; z) :- A(v; z) | B(w; z) .",
    ]
    .iter()
    .map(|c| error(c))
    .collect::<Vec<_>>()
    .join("\n");
    expect_test::expect![[r#"
        t.nrp:1:10: error: `x` is not bound by the union branch `Q`
          |
        1 | W(v; sum([x])) :- P(v, x, y) | Q(v, y, z) .
          |          ^^^
          = note: a union head can encode only variables that every branch binds

        t.nrp:1:22: error: unsafe rule: head variable `v` does not occur in the union branch `B`
          |
        1 | U(v; z) :- A(v; z) | B(w; z) .
          |                      ^^^^^^^
          = note: every branch of a union must bind every head variable
    "#]]
    .assert_eq(&out);
}

#[test]
fn classical_unions_and_module_arguments_in_listings() {
    expect_test::expect![[r#"
        relations:
          relation  kind       arity  dim  defined by
          K         derived    1      0    union
          H         derived    1      1    transformation
          A         input      1      0    table A (no database), first column
          C         input      2      0    table C (no database), first 2 columns
          K#1       auxiliary  1      0    transformation
          K#2       auxiliary  1      0    conjunction
        modules:
          module  kind             parameters
          H.0     ELU(1.0)         -
          H.1     LeakyReLU(0.01)  -
          H.2     Dropout(0.5)     -
        rules:
          K#1(v) :- A(v) .    # transformation
          K#2(v) :- C(v, _1) .    # conjunction
          K(v0) :- K#1(v0) | K#2(v0) .    # union
          H(v; H.2(H.1(H.0([v])))) :- K(v) .    # transformation
        fragments: monadic, frontier-guarded
    "#]]
    .assert_eq(&listing(
        "K(v) :- A(v) . K(v) :- C(v, _) . H(v; Dropout()(LeakyReLU()(ELU()([v])))) :- K(v) .",
    ));
}

#[test]
fn unknown_modules_index_inputs_and_branch_dimensions() {
    let out = [
        "H(v; Conv2d(1, 2)(z)) :- A(v; z) .",
        "H(v; OneHot(3)([v, v])) :- A(v) .",
        "L(; CrossEntropyLoss()([v, v], [v, v])) :- A(v) .",
        "H(v; t) :- C1(v; z) | C2(v; w) . C1(v; [v]) :- A(v) . C2(v; [v, v]) :- A(v) .",
    ]
    .iter()
    .map(|c| error(c))
    .collect::<Vec<_>>()
    .join("\n");
    expect_test::expect![[r#"
        t.nrp:1:6: error: unknown module `Conv2d`
          |
        1 | H(v; Conv2d(1, 2)(z)) :- A(v; z) .
          |      ^^^^^^
          = note: modules: Linear, Embedding, LayerNorm, Dropout, ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax, Identity, OneHot, ArgMax, CrossEntropyLoss, MSELoss, L1Loss, BCEWithLogitsLoss, BCELoss, NLLLoss, Tensor; functions: exp, log, sqrt, abs, relu, sigmoid, tanh, round, Concat

        t.nrp:1:16: error: `H.0` (OneHot(3)) takes an integer index held in a 1-dimensional embedding, got a 2-dimensional one
          |
        1 | H(v; OneHot(3)([v, v])) :- A(v) .
          |                ^^^^^^

        t.nrp:1:32: error: `L.0` (CrossEntropyLoss()) takes a class-index target held in a 1-dimensional embedding, got a 2-dimensional one
          |
        1 | L(; CrossEntropyLoss()([v, v], [v, v])) :- A(v) .
          |                                ^^^^^^

        t.nrp:1:23: error: `H` gets a 2-dimensional embedding here but a 1-dimensional one from its first rule or branch
          |
        1 | H(v; t) :- C1(v; z) | C2(v; w) . C1(v; [v]) :- A(v) . C2(v; [v, v]) :- A(v) .
          |                       ^^^^^^^^
          = note: every rule and union branch of one relation must give embeddings of the same dimension
    "#]].assert_eq(&out);
}

#[test]
fn recursion_through_a_table_name_explains_the_shadowing() {
    let t = nrp_data::Table::from_rows(
        "Edge",
        vec!["s".into(), "t".into()],
        &[vec![nrp_data::Value::Int(1), nrp_data::Value::Int(2)]],
    )
    .unwrap();
    let db = nrp_data::Database::from_tables("test", vec![t]).unwrap();
    let text = "Edge(u, v) :- Edge(u, v), u < v .";
    let d = nrp_sema::check(&parse(text).unwrap(), Some(&db)).unwrap_err();
    assert_eq!(d.message, "recursive rules are not supported: Edge -> Edge");
    assert_eq!(
        d.notes[1],
        "a rule defines `Edge`, so `Edge(…)` in a body means that relation, not the table `Edge`; give the rule head another name"
    );
}

#[test]
fn head_variables_around_an_aggregation() {
    expect_test::expect![[r#"
        relations:
          relation  kind       arity  dim  defined by
          H         derived    2      2    transformation
          A         input      2      ?    table A (no database), first 2 columns; embedding: the rest
          H#agg     auxiliary  2      1    transformation
        modules:
          module  kind  parameters
        rules:
          H#agg(v, w; [v]) :- A(v, w; z) .    # transformation
          H(v0, v1; Concat(e, [v1])) :- H#agg(v0, v1; e) .    # transformation
        fragments: frontier-guarded, disjunction-free
    "#]]
    .assert_eq(&listing("H(v, w; Concat(sum([v]), [w])) :- A(v, w; z) ."));
    expect_test::expect![[r#"
        t.nrp:1:16: error: `w` is not a head variable: around the aggregation, only head variables can be encoded
          |
        1 | H(v; sum(z) + [w]) :- A(v; z), B(w) .
          |                ^
          = note: the aggregation projects the other body variables out; encode them inside it
    "#]].assert_eq(&error("H(v; sum(z) + [w]) :- A(v; z), B(w) ."));
}

/// Sema sees a database only through `nrp_data::Catalogue`: a catalogue of schemas that
/// holds no rows is enough to check a program with every dimension known.
#[test]
fn a_catalogue_of_schemas_without_rows_checks_a_program() {
    struct Schemas;
    impl nrp_data::Catalogue for Schemas {
        fn describe(&self) -> String {
            "schemas".into()
        }
        fn table_names(&self) -> Vec<String> {
            vec!["Feat".into(), "Link".into()]
        }
        fn resolve(&self, r: &str) -> Result<Option<String>, nrp_data::DataError> {
            Ok(self.table_names().into_iter().find(|t| t == r))
        }
        fn embedding_dim(
            &self,
            table: &str,
            terms: usize,
            embedding: bool,
        ) -> Result<usize, nrp_data::DataError> {
            match (table, embedding) {
                (_, false) => Ok(0),
                ("Feat", true) if terms == 1 => Ok(8),
                _ => Err(nrp_data::DataError::new(format!("{table}: no embedding"))),
            }
        }
        fn guard_rows(
            &self,
            table: &str,
        ) -> Result<std::sync::Arc<nrp_data::Table>, nrp_data::DataError> {
            Err(nrp_data::DataError::new(format!("{table}: no rows here")))
        }
    }
    let text = "H(v; sum(Linear(8, 4)(x))) :- Link(u, v), Feat(u; x) .";
    let ast = parse(text).unwrap();
    let p = nrp_sema::check_catalogue(&ast, Some(&Schemas), &Default::default())
        .unwrap_or_else(|d| panic!("{}", d.render(&Source::new("t.nrp", text))));
    let h = &p.relations[p.relation("H").unwrap()];
    assert_eq!(h.dim, Some(4));
    let bad = parse("H(v; z) :- Link(v; z) .").unwrap();
    let e = nrp_sema::check_catalogue(&bad, Some(&Schemas), &Default::default()).unwrap_err();
    assert_eq!(e.message, "Link: no embedding");
}
