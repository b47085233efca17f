//! `nrp`: run, check, explain and query Neuro-Relational Programs (LANGUAGE.md §7).
//!
//! Argument parsing and output only: the pipeline (options, checking, parameters, grounding)
//! is the `nrp-session` library; one file per command under `cmd/`.
//!
//! Exit status 0 on success, 1 on a user error (program, data, arguments) with a message on
//! stderr that names `file:line:column`, or table, row and column. Never a stack trace.

mod args;
mod cmd;
mod interrupt;
mod output;
mod settings;

use args::{Args, Invocation};
use std::io::Write;
use std::process::ExitCode;

/// A user-facing failure, already rendered (exit status 1 unless [`Failure::with_code`]).
pub struct Failure(String);

/// A failure with another exit status (130: interrupted).
pub struct CodedFailure(pub Failure, pub u8);

impl Failure {
    pub fn with_code(self, code: u8) -> CodedFailure {
        CodedFailure(self, code)
    }
}

impl From<Failure> for CodedFailure {
    fn from(f: Failure) -> CodedFailure {
        f.with_code(1)
    }
}

impl From<String> for CodedFailure {
    fn from(s: String) -> CodedFailure {
        Failure::from(s).with_code(1)
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure(format!("error: {s}\n"))
    }
}

impl From<nrp_session::Error> for Failure {
    fn from(e: nrp_session::Error) -> Failure {
        Failure(e.text)
    }
}

impl From<nrp_session::Error> for CodedFailure {
    fn from(e: nrp_session::Error) -> CodedFailure {
        Failure::from(e).with_code(1)
    }
}

type R<T> = Result<T, Failure>;

fn main() -> ExitCode {
    // A panic is a bug in nrp; say so in one line instead of a stack trace.
    std::panic::set_hook(Box::new(|info| {
        // A refused allocation unwinds to `main`, which reports it.
        if info
            .payload()
            .downcast_ref::<nrp_tensor::OutOfMemory>()
            .is_some()
        {
            return;
        }
        // A malformed Parquet file that the reader rejects by panicking: nrp-data reports
        // it as a data error.
        if nrp_data::in_parquet_reader() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "nrp: internal error{at}: {} (this is a bug in nrp; please report it)",
            msg.unwrap_or_default()
        );
    }));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if matches!(argv.first().map(String::as_str), Some("-V" | "--version")) {
        println!("nrp {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let result = match Args::parse(&argv) {
        Ok(Invocation::Help(text)) => print_stdout(&text).map_err(|f| f.with_code(1)),
        // A buffer the allocator refuses unwinds with `OutOfMemory` (nrp_tensor::alloc):
        // a user error, not a crash. Any other panic goes on unwinding (a bug).
        Ok(Invocation::Run(args)) => match std::panic::catch_unwind(|| run(&args)) {
            Ok(result) => result,
            Err(payload) => match payload.downcast_ref::<nrp_tensor::OutOfMemory>() {
                Some(oom) => Err(Failure(nrp_session::budget::out_of_memory(
                    oom.bytes,
                    "`--memory-limit`",
                ))
                .with_code(1)),
                None => std::panic::resume_unwind(payload),
            },
        },
        // No arguments at all: the overview alone, as `nrp --help` prints it.
        Err(_) if argv.is_empty() => Err(Failure(args::top_help()).with_code(1)),
        Err(e) => Err(Failure(format!("error: {}\n\n{}", e.message, e.usage)).with_code(1)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CodedFailure(Failure(msg), code)) => {
            eprint!("{msg}");
            ExitCode::from(code)
        }
    }
}

fn run(args: &Args) -> Result<(), CodedFailure> {
    let user = |r: R<()>| r.map_err(|f| f.with_code(1));
    match args.command.as_str() {
        "check" => user(cmd::check::run(args)),
        "query" => user(cmd::query::run(args)),
        "run" => cmd::run::run(args),
        "explain" => user(cmd::explain::run(args)),
        other => user(Err(
            format!("`nrp {other}` is not available in this build").into()
        )),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print_stdout(s: &str) -> R<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("cannot write output: {e}").into()),
    }
}
