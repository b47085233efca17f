//! Property tests of the front end over random input (no dependencies: `gen` has a
//! SplitMix64 generator). A failure prints its seed; `NRP_PROP_SEED=<seed>` reruns just
//! that case and `NRP_PROP_CASES=<n>` changes the number of cases.
//!
//! - random token sequences never make the lexer, parser, printer or renderer panic;
//! - random well-formed programs, written with minimal parentheses and random layout, parse
//!   to exactly the generated AST, and `print_program` round-trips them;
//! - random byte edits of such programs never panic anything either.

mod progs;

use nrp_syntax::ast::Program;
use nrp_syntax::print::print_program;
use nrp_syntax::{Diagnostic, Source, parse};
use progs::{Gen, Rng, for_each_seed, mutate, render, token_soup};

/// Whatever `text` is: parsing returns, a diagnostic renders and has a sane span, and a
/// program that parses prints to text that parses back to the same AST.
fn never_panics(text: &str) -> Option<Program> {
    match parse(text) {
        Ok(p) => {
            assert_round_trip(&p);
            Some(p)
        }
        Err(d) => {
            check_diagnostic(&d, text);
            None
        }
    }
}

fn check_diagnostic(d: &Diagnostic, text: &str) {
    assert!(!d.message.is_empty());
    if let Some(s) = d.span {
        assert!(
            s.start <= s.end && s.end <= text.len(),
            "span {s:?} outside the text ({} bytes): {}",
            text.len(),
            d.message
        );
        assert!(
            text.is_char_boundary(s.start) && text.is_char_boundary(s.end),
            "span {s:?} splits a character: {}",
            d.message
        );
    }
    let src = Source::new("prop.nrp", text);
    let out = d.render(&src);
    assert!(out.starts_with("prop.nrp:"), "{out}");
    assert!(out.contains(&d.message), "{out}");
}

fn assert_round_trip(p: &Program) {
    let printed = print_program(p);
    let mut again = parse(&printed).unwrap_or_else(|d| {
        panic!(
            "printed program does not parse:\n{}\n{printed}",
            d.render(&Source::new("printed.nrp", printed.as_str()))
        )
    });
    let mut p = p.clone();
    p.erase_spans();
    again.erase_spans();
    assert_eq!(p, again, "round trip changed the AST; printed:\n{printed}");
    assert_eq!(print_program(&again), printed, "printing is not stable");
}

#[test]
fn random_token_sequences_never_panic() {
    let (mut ok, mut total) = (0, 0);
    for_each_seed("token soup", 6000, |rng| {
        let text = token_soup(rng);
        total += 1;
        ok += never_panics(&text).is_some() as usize;
    });
    eprintln!("token soup: {ok} of {total} parsed");
}

fn generated(rng: &mut Rng, plausible: bool) -> (Program, String) {
    let p = Gen::new(rng, plausible).program();
    let text = render(rng, &p);
    (p, text)
}

#[test]
fn generated_programs_parse_to_their_ast_and_round_trip() {
    for_each_seed("generated programs", 3000, |rng| {
        let plausible = rng.one_in(2);
        let (expected, text) = generated(rng, plausible);
        let mut parsed = parse(&text).unwrap_or_else(|d| {
            panic!(
                "generated program does not parse:\n{}\n{text}",
                d.render(&Source::new("gen.nrp", text.as_str()))
            )
        });
        assert_round_trip(&parsed);
        parsed.erase_spans();
        assert_eq!(
            parsed, expected,
            "parsed AST differs from the generated one; text:\n{text}"
        );
    });
}

#[test]
fn mutated_programs_never_panic() {
    let (mut ok, mut total) = (0, 0);
    for_each_seed("mutated programs", 5000, |rng| {
        let plausible = rng.one_in(2);
        let (_, text) = generated(rng, plausible);
        let text = mutate(rng, &text);
        total += 1;
        ok += never_panics(&text).is_some() as usize;
    });
    eprintln!("mutations: {ok} of {total} still parsed");
}

/// Spans of lexer errors stay inside the text and on character boundaries.
#[test]
fn lexer_error_spans_stay_in_the_text() {
    for text in [
        "?", "?é", "x ?", "\"abc", "'\\é'", "é", "a : b", "?\u{0}", "'\\",
    ] {
        let d = parse(text).unwrap_err();
        check_diagnostic(&d, text);
    }
}
