//! Command-line arguments: `nrp <command> PROGRAM [flags]`, parsed by hand (a 2-core CI
//! machine pays for every dependency's build). Unknown or malformed flags are user errors.
//!
//! [`COMMANDS`] is the one table of commands and their flags: the parser accepts exactly
//! what it lists, and every help text (`nrp --help`, `nrp <command> --help`, the usage shown
//! after an argument error) is written from it, so help and parser cannot drift apart.

use std::collections::BTreeMap;

/// One option of a command.
pub struct Flag {
    pub name: &'static str,
    /// The value's placeholder in help texts (`N`, `DIR`); `None` for a switch.
    pub value: Option<&'static str>,
    /// Whether the command needs it (shown without brackets in the synopsis).
    pub required: bool,
    /// One line: what it does.
    pub help: &'static str,
    /// What happens without it; `None` for a required flag.
    pub default: Option<&'static str>,
}

/// One command: its flags, a one-line summary and an example.
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub flags: &'static [Flag],
    pub example: &'static str,
}

const fn flag(
    name: &'static str,
    value: Option<&'static str>,
    help: &'static str,
    default: &'static str,
) -> Flag {
    Flag {
        name,
        value,
        required: false,
        help,
        default: Some(default),
    }
}

const fn required(name: &'static str, value: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value: Some(value),
        required: true,
        help,
        default: None,
    }
}

const DB: Flag = required(
    "db",
    "SOURCE",
    "CSV or Parquet directory, SQLite file, or postgres:// URL",
);
const SEED: Flag = flag(
    "seed",
    Some("N"),
    "initialises parameters not given by --load (as torch.manual_seed)",
    "0",
);
const THREADS: Flag = flag(
    "threads",
    Some("N"),
    "worker threads: at most 4 per core, or 64 if that is more",
    "all cores",
);
const LOAD: Flag = flag(
    "load",
    Some("FILE"),
    "reads parameters from a safetensors file (names as in PyTorch)",
    "none",
);

const MEMORY_LIMIT: Flag = flag(
    "memory-limit",
    Some("SIZE"),
    "refuses what needs more memory than SIZE (512M, 8G, 8GiB)",
    "75% of memory",
);

const GROUND: Flag = flag(
    "ground",
    Some("MODE"),
    "in-engine or sql (the database joins rule bodies over its tables)",
    "in-engine",
);

const TEMPLATE_DEPTH: Flag = flag(
    "template-depth",
    Some("N"),
    "the longest chain of template instances, each made by the one before",
    "100",
);

/// Every command with its flags, in the order `nrp --help` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "run",
        summary: "runs the statements in order: ?fit trains, ?pred evaluates",
        flags: &[
            DB,
            flag(
                "out",
                Some("DIR"),
                "writes each non-zero-ary ?pred relation to DIR/<Name>.csv",
                "sizes only",
            ),
            SEED,
            THREADS,
            flag(
                "save",
                Some("FILE"),
                "writes the parameters to a safetensors file after each ?fit",
                "not saved",
            ),
            flag(
                "save-every",
                Some("N"),
                "also writes the --save file every N epochs",
                "after each ?fit only",
            ),
            flag(
                "resume",
                Some("FILE"),
                "continues from a checkpoint: weights, optimiser state, dropout",
                "none",
            ),
            flag(
                "no-fit",
                None,
                "skips every ?fit; ?pred evaluates the --load weights",
                "off",
            ),
            LOAD,
            flag(
                "json",
                None,
                "ends stdout with one JSON line: timings, final loss, metrics",
                "off",
            ),
            flag(
                "metrics",
                Some("FILE"),
                "writes each epoch's loss, step ms and metrics: CSV, or .jsonl",
                "not written",
            ),
            flag(
                "plot",
                Some("FILE"),
                "draws the loss and metric curves into an SVG file",
                "not drawn",
            ),
            flag(
                "write-db",
                Some("FILE"),
                "writes each non-zero-ary ?pred relation to a SQLite table",
                "not written",
            ),
            flag(
                "replace",
                None,
                "lets --write-db replace tables of the same names",
                "refuses existing tables",
            ),
            GROUND,
            MEMORY_LIMIT,
            TEMPLATE_DEPTH,
        ],
        example: "nrp run examples/gcn-cora.nrp --db examples/data/cora --seed 1",
    },
    Command {
        name: "check",
        summary: "checks a program: syntax, dimensions, fragments, its rules as nrp reads them",
        flags: &[
            Flag {
                required: false,
                default: Some("dimensions set by tables show as ?"),
                help: "binds the tables: every dimension known",
                ..DB
            },
            MEMORY_LIMIT,
            TEMPLATE_DEPTH,
        ],
        example: "nrp check examples/gcn-cora.nrp --db examples/data/cora",
    },
    Command {
        name: "explain",
        summary: "prints the grounding (join orders, measured sizes) and the tensor plan",
        flags: &[
            DB,
            flag(
                "dot",
                None,
                "prints the tensor plan as a Graphviz dot graph instead",
                "off",
            ),
            flag(
                "sql",
                None,
                "also prints the SQL statement of each rule body over tables",
                "off",
            ),
            GROUND,
            MEMORY_LIMIT,
            TEMPLATE_DEPTH,
        ],
        example: "nrp explain examples/gcn-cora.nrp --db examples/data/cora",
    },
    Command {
        name: "query",
        summary: "prints one derived relation (runs definitions only: no ?fit, no ?pred)",
        flags: &[
            DB,
            required("relation", "NAME", "the derived relation to print"),
            LOAD,
            SEED,
            flag(
                "accept",
                None,
                "keeps tuples whose embedding's minimum is > 0; drops embeddings",
                "off",
            ),
            flag(
                "format",
                Some("csv|jsonl"),
                "CSV with a header row, or one JSON object per line",
                "csv",
            ),
            flag(
                "reference",
                None,
                "evaluates with the naive f64 reference evaluator",
                "off: the engine",
            ),
            THREADS,
            GROUND,
            MEMORY_LIMIT,
            TEMPLATE_DEPTH,
        ],
        example: "nrp query examples/gcn-cora.nrp --db examples/data/cora --relation Out",
    },
];

pub fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

impl Flag {
    /// `--seed N` (or `--json`).
    fn usage(&self) -> String {
        match self.value {
            Some(v) => format!("--{} {v}", self.name),
            None => format!("--{}", self.name),
        }
    }
}

impl Command {
    /// `nrp run PROGRAM --db SOURCE [--out DIR] …` on one line.
    #[cfg(test)]
    fn synopsis(&self) -> String {
        self.synopsis_parts().join(" ")
    }

    fn synopsis_parts(&self) -> Vec<String> {
        let mut parts = vec![format!("nrp {}", self.name), "PROGRAM".into()];
        for f in self.flags {
            parts.push(if f.required {
                f.usage()
            } else {
                format!("[{}]", f.usage())
            });
        }
        parts
    }

    /// `usage: ` and the synopsis, wrapped before 90 columns under its start.
    fn usage_lines(&self) -> String {
        let lead = "usage: ";
        let indent = lead.len() + self.name.len() + 5;
        let mut s = String::from(lead);
        let mut col = lead.len();
        for (i, p) in self.synopsis_parts().into_iter().enumerate() {
            if i > 0 && col + 1 + p.len() > 90 {
                s.push('\n');
                s.push_str(&" ".repeat(indent));
                col = indent;
            } else if i > 0 {
                s.push(' ');
                col += 1;
            }
            col += p.len();
            s.push_str(&p);
        }
        s.push('\n');
        s
    }

    /// The text of `nrp <command> --help`.
    pub fn help(&self) -> String {
        let mut rows: Vec<(String, String)> =
            vec![("PROGRAM".into(), "the program file (required)".into())];
        for f in self.flags {
            let default = match f.default {
                Some(d) => format!(" (default: {d})"),
                None => " (required)".into(),
            };
            rows.push((f.usage(), format!("{}{default}", f.help)));
        }
        rows.push(("-h, --help".into(), "prints this help".into()));
        let width = rows.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
        let mut s = format!(
            "nrp {} — {}\n\n{}\noptions:\n",
            self.name,
            self.summary,
            self.usage_lines()
        );
        for (u, h) in rows {
            s.push_str(&format!("  {u:width$}  {h}\n"));
        }
        s.push_str(&format!("\nexample:\n  {}\n", self.example));
        s
    }

    /// What follows an argument error: the synopsis and where the full help is.
    pub fn short_usage(&self) -> String {
        format!(
            "{}(`nrp {} --help` describes every option)\n",
            self.usage_lines(),
            self.name
        )
    }
}

/// The text of `nrp --help`.
pub fn top_help() -> String {
    let mut s = String::from(
        "nrp — Neuro-Relational Programs: Datalog rules with embeddings, trained end to end\n\n\
         usage: nrp <command> PROGRAM [options]\n\ncommands:\n",
    );
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        s.push_str(&format!("  {:width$}  {}\n", c.name, c.summary));
    }
    s.push_str(&format!(
        "  {:width$}  prints the help of a command: nrp help <command>\n",
        "help"
    ));
    s.push_str(
        "\n`nrp <command> --help` prints a command's options, their defaults and an example.\n\
         `nrp --version` prints the version.\n",
    );
    s
}

/// What the command line asks for.
pub enum Invocation {
    /// Print this help text and exit 0.
    Help(String),
    Run(Args),
}

/// An argument error, with the usage to print after it.
pub struct ArgError {
    pub message: String,
    pub usage: String,
}

pub struct Args {
    pub command: String,
    pub program: String,
    flags: BTreeMap<String, Option<String>>,
}

fn is_help(a: &str) -> bool {
    a == "-h" || a == "--help"
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Invocation, ArgError> {
        let top = |message: String| ArgError {
            message,
            usage: top_help(),
        };
        let Some(name) = argv.first() else {
            return Err(top("missing command".into()));
        };
        if is_help(name) || (name == "help" && argv.len() == 1) {
            return Ok(Invocation::Help(top_help()));
        }
        if name == "help" {
            return match (command(&argv[1]), argv.len()) {
                (Some(c), 2) => Ok(Invocation::Help(c.help())),
                (None, _) => Err(top(format!("unknown command `{}`", argv[1]))),
                (Some(_), _) => Err(top("`nrp help` takes one command".into())),
            };
        }
        let Some(cmd) = command(name) else {
            return Err(top(format!("unknown command `{name}`")));
        };
        let err = |message: String| ArgError {
            message,
            usage: cmd.short_usage(),
        };
        // Help wins wherever it stands, except as the value of a flag.
        let mut program = None;
        let mut flags = BTreeMap::new();
        let mut i = 1;
        while i < argv.len() {
            let a = &argv[i];
            if is_help(a) {
                return Ok(Invocation::Help(cmd.help()));
            }
            if let Some(f) = a.strip_prefix("--") {
                let (fname, inline) = match f.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (f, None),
                };
                let Some(spec) = cmd.flags.iter().find(|s| s.name == fname) else {
                    return Err(err(format!("unknown option `--{fname}` for `nrp {name}`")));
                };
                let value = match (spec.value, inline) {
                    (Some(_), Some(v)) => Some(v),
                    (Some(_), None) => match argv.get(i + 1) {
                        // `--db --out x` forgot the value rather than naming `--out`.
                        Some(v) if !v.starts_with("--") && !is_help(v) => {
                            i += 1;
                            Some(v.clone())
                        }
                        _ => return Err(err(format!("option `--{fname}` needs a value"))),
                    },
                    (None, Some(_)) => {
                        return Err(err(format!("option `--{fname}` takes no value")));
                    }
                    (None, None) => None,
                };
                if flags.insert(fname.to_string(), value).is_some() {
                    return Err(err(format!("option `--{fname}` is given twice")));
                }
            } else if a.len() > 1 && a.starts_with('-') {
                return Err(err(format!("unknown option `{a}` for `nrp {name}`")));
            } else if program.is_none() {
                program = Some(a.clone());
            } else {
                return Err(err(format!(
                    "unexpected argument `{a}` (one PROGRAM per command)"
                )));
            }
            i += 1;
        }
        let Some(program) = program else {
            return Err(err(format!("`nrp {name}` needs a PROGRAM file")));
        };
        Ok(Invocation::Run(Args {
            command: name.clone(),
            program,
            flags,
        }))
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags.get(name).and_then(|v| v.as_deref())
    }

    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name)
            .ok_or_else(|| format!("`nrp {}` needs `--{name}`", self.command))
    }

    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("`--{name}` expects a non-negative integer, got `{v}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Invocation, ArgError> {
        Args::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    fn args(s: &str) -> Args {
        match parse(s) {
            Ok(Invocation::Run(a)) => a,
            Ok(Invocation::Help(h)) => panic!("{s}: help\n{h}"),
            Err(e) => panic!("{s}: {}", e.message),
        }
    }

    fn help(s: &str) -> String {
        match parse(s) {
            Ok(Invocation::Help(h)) => h,
            _ => panic!("{s}: not help"),
        }
    }

    fn error(s: &str) -> String {
        match parse(s) {
            Err(e) => e.message,
            _ => panic!("{s}: not an error"),
        }
    }

    #[test]
    fn flags_with_and_without_values() {
        let a = args("query p.nrp --db d --relation=Out --accept");
        assert_eq!(a.program, "p.nrp");
        assert_eq!(a.value("db"), Some("d"));
        assert_eq!(a.value("relation"), Some("Out"));
        assert!(a.flag("accept"));
        assert!(!a.flag("load"));
        assert_eq!(args("run p --seed -1").value("seed"), Some("-1"));
    }

    #[test]
    fn errors() {
        assert_eq!(error("frobnicate p"), "unknown command `frobnicate`");
        assert_eq!(
            error("check p --dbb x"),
            "unknown option `--dbb` for `nrp check`"
        );
        assert_eq!(error("query p --db"), "option `--db` needs a value");
        assert_eq!(
            error("query p --db --relation R"),
            "option `--db` needs a value"
        );
        assert_eq!(error("check"), "`nrp check` needs a PROGRAM file");
        assert_eq!(
            error("check a b"),
            "unexpected argument `b` (one PROGRAM per command)"
        );
        assert_eq!(
            error("query p --accept=1"),
            "option `--accept` takes no value"
        );
        assert_eq!(
            error("query p --db a --db b"),
            "option `--db` is given twice"
        );
        assert_eq!(error("check -x p"), "unknown option `-x` for `nrp check`");
        assert_eq!(error("help frobnicate"), "unknown command `frobnicate`");
        assert_eq!(error(""), "missing command");
    }

    /// Flags that no command reads are not accepted (they were once: `run --reference`,
    /// `explain --threads`).
    #[test]
    fn dead_flags_are_gone() {
        assert_eq!(
            error("run p --reference"),
            "unknown option `--reference` for `nrp run`"
        );
        assert_eq!(
            error("explain p --threads 2"),
            "unknown option `--threads` for `nrp explain`"
        );
    }

    #[test]
    fn help_wherever_it_stands() {
        for c in COMMANDS {
            let h = c.help();
            for line in [
                format!("{} --help", c.name),
                format!("{} -h", c.name),
                format!("help {}", c.name),
                format!("{} p.nrp --db d -h", c.name),
            ] {
                assert_eq!(help(&line), h, "{line}");
            }
        }
        for line in ["--help", "-h", "help"] {
            assert_eq!(help(line), top_help());
        }
    }

    /// Every flag of the table appears in its command's help with its default, and the
    /// synopsis brackets exactly the optional ones.
    #[test]
    fn help_lists_every_flag_with_its_default() {
        for c in COMMANDS {
            let h = c.help();
            assert!(h.contains(&c.usage_lines()));
            assert_eq!(
                c.usage_lines()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("usage: {}", c.synopsis())
            );
            assert!(h.lines().all(|l| l.chars().count() <= 110), "{h}");
            assert!(h.contains(&format!("\nexample:\n  nrp {} ", c.name)));
            for f in c.flags {
                let line = h
                    .lines()
                    .find(|l| l.starts_with(&format!("  {} ", f.usage())))
                    .unwrap_or_else(|| panic!("nrp {}: no line for --{}", c.name, f.name));
                assert!(line.contains(f.help), "{line}");
                match f.default {
                    Some(d) => assert!(line.ends_with(&format!("(default: {d})")), "{line}"),
                    None => assert!(line.ends_with("(required)"), "{line}"),
                }
                assert_eq!(
                    c.synopsis().contains(&format!("[{}", f.usage())),
                    !f.required,
                    "{}",
                    f.name
                );
            }
            assert!(top_help().contains(c.summary));
        }
    }
}
