//! Front end of nrp: program text → AST with source spans, and diagnostics rendered as
//! `file:line:column: error: …` followed by the source line and a caret.
//!
//! Never panics on any input: errors are [`Diagnostic`]s.

pub mod ast;
pub mod diag;
pub mod lexer;
pub mod parser;
pub mod print;

pub use diag::{Diagnostic, Source, Span};
pub use parser::parse;
