//! Any bytes: the lexer, the parser and the diagnostic renderer never panic; a program that
//! parses prints to text that parses back to the same AST (spans aside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nrp_syntax::print::print_program;
use nrp_syntax::{Source, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse(&text) {
        Ok(mut ast) => {
            let printed = print_program(&ast);
            let mut again = match parse(&printed) {
                Ok(p) => p,
                Err(d) => panic!(
                    "printed program does not parse: {}\n{printed}",
                    d.render(&Source::new("printed.nrp", printed.as_str()))
                ),
            };
            ast.erase_spans();
            again.erase_spans();
            assert_eq!(ast, again, "round trip changed the AST; printed:\n{printed}");
        }
        Err(d) => {
            let _ = d.render(&Source::new("fuzz.nrp", text.as_ref()));
        }
    }
});
