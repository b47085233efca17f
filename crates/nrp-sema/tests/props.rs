//! Property test: semantic checking of random programs returns `Ok` or a diagnostic, never
//! panics, and the diagnostic renders against the source. The programs come from the
//! generator of nrp-syntax's property tests, mostly in its `plausible` mode (bound
//! variables, catalogue modules, rules in dependency order) so that many get through every
//! stage of `check`; byte mutations of them reach the error paths. A failure prints its
//! seed; `NRP_PROP_SEED=<seed>` reruns that case, `NRP_PROP_CASES=<n>` sets the count.

#[path = "../../nrp-syntax/tests/progs/mod.rs"]
mod progs;

use nrp_sema::display;
use nrp_syntax::{Source, parse};
use progs::{Gen, for_each_seed, mutate, render};

/// Checks `text` if it parses; returns whether it passed the checks.
fn check_never_panics(text: &str) -> Option<bool> {
    let ast = parse(text).ok()?;
    match nrp_sema::check(&ast, None) {
        Ok(p) => {
            // The listings of `nrp check` must not panic either.
            let _ = display::relations(&p);
            let _ = display::modules(&p);
            let _ = display::rules(&p);
            let _ = p.fragments.names();
            Some(true)
        }
        Err(d) => {
            if let Some(s) = d.span {
                assert!(
                    s.start <= s.end && s.end <= text.len(),
                    "span {s:?} outside the text: {}",
                    d.message
                );
            }
            let out = d.render(&Source::new("prop.nrp", text));
            assert!(out.contains(&d.message), "{out}");
            Some(false)
        }
    }
}

#[test]
fn generated_programs_check_without_panicking() {
    let (mut ok, mut total) = (0, 0);
    for_each_seed("sema generated", 3000, |rng| {
        let plausible = !rng.one_in(5);
        let p = Gen::new(rng, plausible).program();
        let text = render(rng, &p);
        let passed = check_never_panics(&text)
            .unwrap_or_else(|| panic!("generated program does not parse:\n{text}"));
        total += 1;
        ok += passed as usize;
    });
    eprintln!("sema: {ok} of {total} generated programs passed the checks");
    // Not vacuous: a good share of programs must get through every stage of `check`.
    if total >= 1000 {
        assert!(
            ok * 4 >= total,
            "only {ok} of {total} programs passed the checks"
        );
    }
}

#[test]
fn mutated_programs_check_without_panicking() {
    let (mut parsed, mut total) = (0, 0);
    for_each_seed("sema mutated", 3000, |rng| {
        let p = Gen::new(rng, true).program();
        let text = render(rng, &p);
        let text = mutate(rng, &text);
        total += 1;
        parsed += check_never_panics(&text).is_some() as usize;
    });
    eprintln!("sema: {parsed} of {total} mutated programs parsed and were checked");
}

/// Found while looking for blow-ups: composite modules expand where they are applied, so
/// `C = Concat(inp, inp)` doubled with every `C(…)` around it (30 of them: minutes, then out
/// of memory), and a chain of composites each applying the previous one nested as deeply
/// as it was long (a stack overflow, and quadratic time). Both are bounded errors now.
#[test]
fn composite_expansion_is_bounded() {
    let check = |text: &str| {
        let ast = parse(text).unwrap_or_else(|d| panic!("{}", d.message));
        nrp_sema::check(&ast, None).map(|_| ()).map_err(|d| {
            let _ = d.render(&Source::new("t.nrp", text));
            d.message
        })
    };
    let t = std::time::Instant::now();
    let nested = |n: usize| {
        format!(
            "C = Concat(inp, inp) .\nR(a; {}x{}) :- E(a; x) .\n",
            "C(".repeat(n),
            ")".repeat(n)
        )
    };
    assert_eq!(check(&nested(5)), Ok(()));
    let e = check(&nested(40)).unwrap_err();
    assert!(e.contains("expand to more than"), "{e}");

    let mut doubling = String::from("M0 = Linear(4, 4) .\n");
    for i in 1..40 {
        doubling += &format!("M{i} = M{j}(M{j}(inp)) .\n", j = i - 1);
    }
    let e = check(&doubling).unwrap_err();
    assert!(e.contains("expand to more than"), "{e}");

    let chain = |n: usize| {
        let mut s = String::from("M0 = Linear(4, 4) .\n");
        for i in 1..n {
            s += &format!("M{i} = Linear(4, 4)(M{}(inp)) .\n", i - 1);
        }
        s + &format!("R(a; M{}(x)) :- E(a; x) .\n", n - 1)
    };
    assert_eq!(check(&chain(100)), Ok(()));
    let e = check(&chain(5000)).unwrap_err();
    assert!(e.contains("levels deep"), "{e}");
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
}
