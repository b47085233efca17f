//! Relation output (LANGUAGE.md §7): CSV with header `c0..c{k-1},e0..e{d-1}` sorted by
//! content, floats in shortest round-trip form; or JSON lines with the same keys.

use nrp_data::Value;
use std::fmt::Write;

/// One output row: content values and already formatted embedding coordinates.
pub struct Row<'a> {
    pub content: &'a [Value],
    pub embedding: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::Jsonl),
            _ => Err(format!("`--format` is `csv` or `jsonl`, got `{s}`")),
        }
    }
}

pub fn header(arity: usize, dim: usize) -> Vec<String> {
    (0..arity)
        .map(|i| format!("c{i}"))
        .chain((0..dim).map(|i| format!("e{i}")))
        .collect()
}

pub fn write_rows<'a>(
    format: Format,
    arity: usize,
    dim: usize,
    rows: impl Iterator<Item = Row<'a>>,
    out: &mut String,
) {
    let header = header(arity, dim);
    if format == Format::Csv {
        out.push_str(&header.join(","));
        out.push('\n');
    }
    for row in rows {
        match format {
            Format::Csv => {
                let cells: Vec<String> = row
                    .content
                    .iter()
                    .map(csv_cell)
                    .chain(row.embedding)
                    .collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            Format::Jsonl => {
                out.push('{');
                let content = row.content.iter().map(json_value);
                let emb = row.embedding.into_iter().map(|e| json_number(&e));
                for (i, (k, v)) in header.iter().zip(content.chain(emb)).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{k}\":{v}");
                }
                out.push_str("}\n");
            }
        }
    }
}

/// A content value as a CSV field, quoted when it holds a separator, a quote, a line break
/// or surrounding white space.
pub fn csv_cell(v: &Value) -> String {
    let s = v.to_string();
    if let Value::Str(_) = v
        && (s.contains([',', '"', '\n', '\r']) || s.trim() != s || s.is_empty())
    {
        return format!("\"{}\"", s.replace('"', "\"\""));
    }
    s
}

fn json_value(v: &Value) -> String {
    match v {
        Value::Str(s) => nrp_params::json::quote(s),
        v => v.to_string(),
    }
}

/// JSON has no NaN or infinities: they become `null`.
fn json_number(s: &str) -> String {
    if matches!(s, "nan" | "inf" | "-inf") {
        "null".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl() {
        let a = [Value::Int(1), Value::parse("x, y")];
        let b = [Value::parse("2.5"), Value::parse("plain")];
        let rows = || {
            vec![
                Row {
                    content: &a,
                    embedding: vec!["0.5".into()],
                },
                Row {
                    content: &b,
                    embedding: vec!["nan".into()],
                },
            ]
            .into_iter()
        };
        let mut csv = String::new();
        write_rows(Format::Csv, 2, 1, rows(), &mut csv);
        assert_eq!(csv, "c0,c1,e0\n1,\"x, y\",0.5\n2.5,plain,nan\n");
        let mut jsonl = String::new();
        write_rows(Format::Jsonl, 2, 1, rows(), &mut jsonl);
        assert_eq!(
            jsonl,
            "{\"c0\":1,\"c1\":\"x, y\",\"e0\":0.5}\n{\"c0\":2.5,\"c1\":\"plain\",\"e0\":null}\n"
        );
    }

    #[test]
    fn accept_needs_every_coordinate_positive() {
        let ok = |v: &[f64]| nrp_session::program::accepted(v.iter().copied());
        assert!(ok(&[]));
        assert!(ok(&[0.5, 2.0]));
        assert!(!ok(&[0.5, 0.0]));
        assert!(!ok(&[-1.0, 3.0]));
        assert!(!ok(&[f64::NAN, 3.0]));
        assert!(!ok(&[3.0, f64::NAN]));
        assert!(ok(&[f64::INFINITY]));
    }

    #[test]
    fn empty_relation_prints_its_header_only() {
        let mut csv = String::new();
        write_rows(Format::Csv, 1, 2, std::iter::empty(), &mut csv);
        assert_eq!(csv, "c0,e0,e1\n");
    }
}
