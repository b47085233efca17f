//! Any bytes that parse: semantic checking returns `Ok` or a diagnostic, never panics, and
//! the diagnostic renders against the source without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nrp_syntax::{Source, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let src = Source::new("fuzz.nrp", text.as_ref());
    match parse(&text) {
        Ok(ast) => {
            if let Err(d) = nrp_sema::check(&ast, None) {
                let _ = d.render(&src);
                let _ = d.render_kind(&src, "warning");
            }
        }
        Err(d) => {
            let _ = d.render(&src);
        }
    }
});
