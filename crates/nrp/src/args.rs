//! Command-line arguments: `nrp <command> PROGRAM [flags]`, parsed by hand (a 2-core CI
//! machine pays for every dependency's build). Unknown or malformed flags are user errors.

use std::collections::BTreeMap;

pub const USAGE: &str = "\
usage:
  nrp run     PROGRAM --db SOURCE [--out DIR] [--seed N] [--threads N] [--save F] [--load F] [--json]
  nrp check   PROGRAM [--db SOURCE]
  nrp explain PROGRAM --db SOURCE [--dot]
  nrp query   PROGRAM --db SOURCE --relation NAME [--load F] [--seed N] [--accept] [--format csv|jsonl] [--reference]

SOURCE: a directory of CSV files (table T is T.csv) or a SQLite database file.
";

pub struct Args {
    pub command: String,
    pub program: String,
    flags: BTreeMap<String, Option<String>>,
}

/// Flags of each command: (name, takes a value).
fn known_flags(command: &str) -> Option<&'static [(&'static str, bool)]> {
    Some(match command {
        "run" => &[
            ("db", true),
            ("out", true),
            ("seed", true),
            ("threads", true),
            ("save", true),
            ("save-every", true),
            ("resume", true),
            ("no-fit", false),
            ("load", true),
            ("json", false),
            ("reference", false),
            ("memory-limit", true),
        ],
        "check" => &[("db", true), ("memory-limit", true)],
        "explain" => &[
            ("db", true),
            ("dot", false),
            ("threads", true),
            ("memory-limit", true),
        ],
        "query" => &[
            ("db", true),
            ("relation", true),
            ("load", true),
            ("seed", true),
            ("accept", false),
            ("format", true),
            ("reference", false),
            ("threads", true),
            ("memory-limit", true),
        ],
        _ => return None,
    })
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let Some(command) = argv.first() else {
            return Err("missing command".into());
        };
        let Some(flags_spec) = known_flags(command) else {
            return Err(format!("unknown command `{command}`"));
        };
        let mut program = None;
        let mut flags = BTreeMap::new();
        let mut i = 1;
        while i < argv.len() {
            let a = &argv[i];
            if let Some(flag) = a.strip_prefix("--") {
                let (name, inline) = match flag.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (flag, None),
                };
                let Some(&(_, takes_value)) = flags_spec.iter().find(|(n, _)| *n == name) else {
                    return Err(format!("unknown option `--{name}` for `nrp {command}`"));
                };
                let value = if takes_value {
                    match inline {
                        Some(v) => Some(v),
                        None => {
                            i += 1;
                            match argv.get(i) {
                                Some(v) => Some(v.clone()),
                                None => return Err(format!("option `--{name}` needs a value")),
                            }
                        }
                    }
                } else {
                    if inline.is_some() {
                        return Err(format!("option `--{name}` takes no value"));
                    }
                    None
                };
                if flags.insert(name.to_string(), value).is_some() {
                    return Err(format!("option `--{name}` is given twice"));
                }
            } else if program.is_none() {
                program = Some(a.clone());
            } else {
                return Err(format!(
                    "unexpected argument `{a}` (one PROGRAM per command)"
                ));
            }
            i += 1;
        }
        let Some(program) = program else {
            return Err(format!("`nrp {command}` needs a PROGRAM file"));
        };
        Ok(Args {
            command: command.clone(),
            program,
            flags,
        })
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

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn flags_with_and_without_values() {
        let a = parse("query p.nrp --db d --relation=Out --accept").unwrap();
        assert_eq!(a.program, "p.nrp");
        assert_eq!(a.value("db"), Some("d"));
        assert_eq!(a.value("relation"), Some("Out"));
        assert!(a.flag("accept"));
        assert!(!a.flag("load"));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("frobnicate p").err().unwrap(),
            "unknown command `frobnicate`"
        );
        assert_eq!(
            parse("check p --dbb x").err().unwrap(),
            "unknown option `--dbb` for `nrp check`"
        );
        assert_eq!(
            parse("query p --db").err().unwrap(),
            "option `--db` needs a value"
        );
        assert_eq!(
            parse("check").err().unwrap(),
            "`nrp check` needs a PROGRAM file"
        );
        assert_eq!(
            parse("check a b").err().unwrap(),
            "unexpected argument `b` (one PROGRAM per command)"
        );
        assert_eq!(
            parse("query p --accept=1").err().unwrap(),
            "option `--accept` takes no value"
        );
        assert_eq!(
            parse("query p --db a --db b").err().unwrap(),
            "option `--db` is given twice"
        );
    }
}
