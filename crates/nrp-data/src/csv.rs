//! A hand-written RFC 4180 reader, tuned for the big `id,dim,value` feature tables.
//!
//! The whole file is read into memory and scanned once. Plain integers and short decimals are
//! parsed while they are scanned (no `String` per cell); other cells go through
//! [`parse_number`], and strings are interned per column.
//!
//! Dialect: comma separator; `"` quoting with `""` escapes; quoted fields may hold commas and
//! line breaks; records end with `\n`, `\r\n` or a lone `\r` (read as `\n` everywhere, see
//! [`normalize_line_breaks`]), the last one with or without it; a leading
//! UTF-8 BOM is skipped. Blank lines are skipped (as pandas and Python's `csv` do), also in a
//! one-column table. A quote inside an unquoted field is literal text; text after a closing
//! quote is an error. Every record must have as many fields as the header.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use crate::table::{ColumnBuilder, DataError, RowRefs, Table, list_columns};

/// Reads and parses the CSV file of `table`.
pub(crate) fn load(path: &Path, table: &str) -> Result<Table, DataError> {
    let buf = std::fs::read(path).map_err(|e| read_error(path, table, &e))?;
    parse(&normalize_line_breaks(buf), path, table)
}

/// A lone `\r` (classic Mac OS line endings, or a file whose line endings were mixed by
/// several editors) is a line break, as Python's universal newlines and pandas read it:
/// it becomes `\n` (also inside a quoted field). Files without one are not copied.
fn normalize_line_breaks(buf: Vec<u8>) -> Vec<u8> {
    let lone_cr = |i: usize| buf[i] == b'\r' && buf.get(i + 1) != Some(&b'\n');
    if !(0..buf.len()).any(lone_cr) {
        return buf;
    }
    (0..buf.len())
        .map(|i| if lone_cr(i) { b'\n' } else { buf[i] })
        .collect()
}

/// The column names of the CSV file of `table`, reading only as much as the header needs.
pub(crate) fn read_header(path: &Path, table: &str) -> Result<Vec<String>, DataError> {
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, table, &e))?;
    let mut buf = Vec::new();
    let mut want = 1 << 16;
    loop {
        let got = file
            .by_ref()
            .take((want - buf.len()) as u64)
            .read_to_end(&mut buf)
            .map_err(|e| read_error(path, table, &e))?;
        let complete = buf.len() < want || got == 0;
        let text = normalize_line_breaks(buf.clone());
        let mut p = Parser::new(&text, path, table);
        match p.header() {
            // A header that ends exactly at the end of a partial read may continue.
            Ok(cols) if complete || p.pos < buf.len() => return Ok(cols),
            Err(e) if complete => return Err(e),
            _ => want *= 4,
        }
    }
}

fn read_error(path: &Path, table: &str, e: &std::io::Error) -> DataError {
    DataError::new(format!(
        "cannot read table `{table}` ({}): {e}",
        path.display()
    ))
}

/// What ends a field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Field,
    Record,
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The line `pos` is on (1-based).
    line: u64,
    path: &'a Path,
    table: &'a str,
}

/// Powers of ten, all exact in `f64` (Clinger's fast path).
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

enum Num {
    Int(i64),
    /// Any finite number; the builder normalises it.
    Float(f64),
}

impl<'a> Parser<'a> {
    fn new(buf: &'a [u8], path: &'a Path, table: &'a str) -> Parser<'a> {
        let pos = if buf.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        Parser {
            buf,
            pos,
            line: 1,
            path,
            table,
        }
    }

    fn error(&self, line: u64, msg: impl std::fmt::Display) -> DataError {
        DataError::new(format!(
            "malformed CSV in table `{}` ({}), line {line}: {msg}",
            self.table,
            self.path.display()
        ))
    }

    /// Skips blank lines; false at the end of the input.
    fn skip_blank_lines(&mut self) -> bool {
        let b = self.buf;
        loop {
            match b.get(self.pos) {
                None => return false,
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                }
                Some(b'\r') if b.get(self.pos + 1).is_none_or(|&c| c == b'\n') => {
                    self.pos = (self.pos + 2).min(b.len());
                    self.line += 1;
                }
                Some(_) => return true,
            }
        }
    }

    /// Consumes the separator at `i` (or the end of input) if there is one.
    #[inline]
    fn end_at(&mut self, i: usize) -> Option<End> {
        let b = self.buf;
        match b.get(i) {
            None => {
                self.pos = i;
                Some(End::Record)
            }
            Some(b',') => {
                self.pos = i + 1;
                Some(End::Field)
            }
            Some(b'\n') => {
                self.pos = i + 1;
                self.line += 1;
                Some(End::Record)
            }
            Some(b'\r') if b.get(i + 1).is_none_or(|&c| c == b'\n') => {
                self.pos = (i + 2).min(b.len());
                self.line += 1;
                Some(End::Record)
            }
            _ => None,
        }
    }

    /// The next field's text, unescaped. `column` names the field in messages.
    fn raw_field(&mut self, column: &str) -> Result<(Cow<'a, [u8]>, End), DataError> {
        let b = self.buf;
        let start = self.pos;
        if b.get(start) != Some(&b'"') {
            let mut i = start;
            loop {
                while i < b.len() && b[i] != b',' && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                // A lone `\r` is field text; `\r\n` ends the record.
                if let Some(end) = self.end_at(i) {
                    return Ok((Cow::Borrowed(&b[start..i]), end));
                }
                i += 1;
            }
        }
        let open_line = self.line;
        let mut owned: Option<Vec<u8>> = None;
        let mut seg = start + 1;
        let mut i = seg;
        loop {
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\n' {
                    self.line += 1;
                }
                i += 1;
            }
            if i == b.len() {
                return Err(self.error(
                    open_line,
                    format_args!("unterminated quoted field in column `{column}`"),
                ));
            }
            if b.get(i + 1) == Some(&b'"') {
                owned
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(&b[seg..=i]);
                i += 2;
                seg = i;
                continue;
            }
            let text = match owned {
                Some(mut o) => {
                    o.extend_from_slice(&b[seg..i]);
                    Cow::Owned(o)
                }
                None => Cow::Borrowed(&b[seg..i]),
            };
            return match self.end_at(i + 1) {
                Some(end) => Ok((text, end)),
                None => Err(self.error(
                    self.line,
                    format_args!("text after the closing quote of a field in column `{column}`"),
                )),
            };
        }
    }

    /// Parses a plain integer or decimal (`-12`, `0.25`, `.5`) in place, exactly; `None`
    /// (consuming nothing) for anything else, which then takes the general path.
    #[inline]
    fn fast_number(&mut self) -> Option<(Num, End)> {
        let b = self.buf;
        let mut i = self.pos;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let mut m: u64 = 0;
        let digits_start = i;
        while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
            m = m.wrapping_mul(10).wrapping_add(d as u64);
            i += 1;
        }
        let int_digits = i - digits_start;
        let mut frac_digits = 0;
        let dot = b.get(i) == Some(&b'.');
        if dot {
            i += 1;
            let s = i;
            while let Some(d) = b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10) {
                m = m.wrapping_mul(10).wrapping_add(d as u64);
                i += 1;
            }
            frac_digits = i - s;
        }
        let digits = int_digits + frac_digits;
        // 18 digits cannot overflow; below 2^53 (and with 10^frac exact) one division is
        // correctly rounded, so the result equals `str::parse`'s.
        if digits == 0 || digits > 18 || (dot && m > 1 << 53) {
            return None;
        }
        let num = if dot {
            let x = m as f64 / POW10[frac_digits];
            Num::Float(if neg { -x } else { x })
        } else {
            Num::Int(if neg { -(m as i64) } else { m as i64 })
        };
        let end = self.end_at(i)?;
        Some((num, end))
    }

    /// The header record: column names.
    fn header(&mut self) -> Result<Vec<String>, DataError> {
        if !self.skip_blank_lines() {
            return Err(DataError::new(format!(
                "table `{}` ({}) is empty: a CSV table needs a header row",
                self.table,
                self.path.display()
            )));
        }
        let mut cols = Vec::new();
        loop {
            let line = self.line;
            let (text, end) = self.raw_field("(header)")?;
            match std::str::from_utf8(&text) {
                Ok(s) => cols.push(s.to_string()),
                Err(_) => return Err(self.error(line, "the header is not valid UTF-8")),
            }
            if end == End::Record {
                return Ok(cols);
            }
        }
    }
}

/// About 110% of the row count, from the line length of the first 64 KiB: columns then
/// rarely grow (counting every newline would cost 10% of the load).
fn estimate_rows(body: &[u8]) -> usize {
    let sample = &body[..body.len().min(1 << 16)];
    let lines = sample.iter().filter(|&&c| c == b'\n').count().max(1);
    let estimate = body.len() as u128 * lines as u128 * 11 / (sample.len().max(1) as u128 * 10);
    usize::try_from(estimate)
        .unwrap_or(usize::MAX)
        .min(body.len() / 2 + 1)
}

/// Parses a whole CSV file into a table. Inside a thread pool a large file without quotes
/// (so every newline ends a record) is parsed in one piece per thread, split at newlines;
/// the pieces' columns are joined in order, so the table and its errors are the same.
pub(crate) fn parse(buf: &[u8], path: &Path, table: &str) -> Result<Table, DataError> {
    let mut p = Parser::new(buf, path, table);
    let columns = p.header()?;
    let (body, first_line) = (p.pos, p.line);
    let pieces = split_at_newlines(buf, body);
    let parsed: Vec<Result<Piece, DataError>> = if pieces.len() > 1 {
        use rayon::prelude::*;
        // The line each piece starts on: the newlines before it.
        let newlines: Vec<u64> = pieces
            .par_iter()
            .map(|r| buf[r.clone()].iter().filter(|&&c| c == b'\n').count() as u64)
            .collect();
        let starts: Vec<u64> = newlines
            .iter()
            .scan(first_line, |line, n| {
                let at = *line;
                *line += n;
                Some(at)
            })
            .collect();
        pieces
            .par_iter()
            .zip(starts)
            .map(|(r, line)| {
                let mut p = Parser {
                    buf: &buf[..r.end],
                    pos: r.start,
                    line,
                    path,
                    table,
                };
                parse_records(&mut p, &columns)
            })
            .collect()
    } else {
        vec![parse_records(&mut p, &columns)]
    };
    let mut pieces = parsed.into_iter();
    let mut all = pieces.next().expect("one piece at least")?;
    for piece in pieces {
        all.append(piece?);
    }
    // Row i is on line i + 2 unless told otherwise.
    let lines = (!all.consecutive(2)).then(|| all.lines());
    let ncols = columns.len();
    Ok(Table {
        name: table.to_string(),
        columns,
        cells: all
            .builders
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect(),
        rows: all.rows,
        refs: RowRefs::Lines(lines),
        invalid: vec![None; ncols],
        arrays: Vec::new(),
        sql: None,
    })
}

/// Byte ranges of the body to parse separately: one per pool thread for a large file with
/// no quote (a quoted field may hold a newline), else the whole body.
fn split_at_newlines(buf: &[u8], body: usize) -> Vec<std::ops::Range<usize>> {
    const LARGE: usize = 1 << 22;
    let threads = if rayon::current_thread_index().is_some() {
        rayon::current_num_threads()
    } else {
        1
    };
    let len = buf.len() - body;
    if threads < 2 || len < LARGE || buf[body..].contains(&b'"') {
        #[allow(clippy::single_range_in_vec_init)]
        return vec![body..buf.len()];
    }
    let mut cuts = vec![body];
    for k in 1..threads {
        let at = body + len * k / threads;
        let next = buf[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|i| at + i + 1);
        if let Some(n) = next.filter(|&n| n < buf.len() && n > *cuts.last().unwrap()) {
            cuts.push(n);
        }
    }
    cuts.push(buf.len());
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// The records of one piece: its columns, and the line of each record as runs of
/// consecutive lines (`(first line, records)`).
struct Piece {
    builders: Vec<ColumnBuilder>,
    rows: usize,
    runs: Vec<(u64, usize)>,
}

impl Piece {
    fn append(&mut self, other: Piece) {
        for (a, b) in self.builders.iter_mut().zip(other.builders) {
            a.append(b);
        }
        self.rows += other.rows;
        for run in other.runs {
            self.push_line_run(run);
        }
    }

    fn push_line_run(&mut self, (line, n): (u64, usize)) {
        match self.runs.last_mut() {
            Some((l, m)) if *l + *m as u64 == line => *m += n,
            _ => self.runs.push((line, n)),
        }
    }

    /// Whether record `i` is on line `first + i` (no blank lines): then no line table.
    fn consecutive(&self, first: u64) -> bool {
        self.runs.len() <= 1 && self.runs.first().is_none_or(|&(l, _)| l == first)
    }

    fn lines(&self) -> Vec<u64> {
        self.runs
            .iter()
            .flat_map(|&(l, n)| l..l + n as u64)
            .collect()
    }
}

/// Parses records from `p.pos` to the end of `p.buf`.
fn parse_records(p: &mut Parser, columns: &[String]) -> Result<Piece, DataError> {
    let ncols = columns.len();
    let capacity = estimate_rows(&p.buf[p.pos..]);
    let mut piece = Piece {
        builders: (0..ncols)
            .map(|_| ColumnBuilder::with_capacity(capacity))
            .collect(),
        rows: 0,
        runs: vec![],
    };
    while p.skip_blank_lines() {
        let rec_line = p.line;
        piece.push_line_run((rec_line, 1));
        let mut idx = 0;
        loop {
            if idx == ncols {
                // Count the extra fields for the message.
                let mut n = idx;
                loop {
                    n += 1;
                    if p.raw_field("")?.1 == End::Record {
                        break;
                    }
                }
                return Err(p.error(
                    rec_line,
                    format_args!(
                        "{n} fields, but the header has {ncols} ({})",
                        list_columns(columns)
                    ),
                ));
            }
            let builder = &mut piece.builders[idx];
            let end = if let Some((num, end)) = p.fast_number() {
                match num {
                    Num::Int(i) => builder.push_int(i),
                    Num::Float(x) => builder.push_number(x),
                }
                end
            } else {
                let line = p.line;
                let (text, end) = p.raw_field(&columns[idx])?;
                let Ok(s) = std::str::from_utf8(&text) else {
                    return Err(p.error(
                        line,
                        format_args!("column `{}` is not valid UTF-8", columns[idx]),
                    ));
                };
                builder.push_text(s);
                end
            };
            idx += 1;
            if end == End::Record {
                break;
            }
        }
        if idx != ncols {
            return Err(p.error(
                rec_line,
                format_args!(
                    "{idx} field{}, but the header has {ncols} ({})",
                    if idx == 1 { "" } else { "s" },
                    list_columns(columns)
                ),
            ));
        }
        piece.rows += 1;
    }
    Ok(piece)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, RowRef};
    use crate::value::Value;

    fn parse_str(s: &str) -> Result<Table, DataError> {
        parse(s.as_bytes(), Path::new("t.csv"), "t")
    }

    /// Parsed in pieces inside a pool, a large file gives the table (cells, column types
    /// joined across pieces, line of every row) and the error that one piece gives.
    #[test]
    fn pieces_in_a_pool_parse_as_one() {
        let mut text = String::from("id,x,name\n");
        let n = 400_000;
        for i in 0..n {
            // Integers until the middle, then floats; a string column turns mixed late;
            // blank lines on both sides of the split.
            let x = if i < n / 2 {
                format!("{i}")
            } else {
                format!("{}.5", i)
            };
            let name = if i == n - 3 {
                "late".to_string()
            } else {
                format!("{}", i % 7)
            };
            text.push_str(&format!("{i},{x},{name}\n"));
            if i % 99_991 == 0 {
                text.push('\n');
            }
        }
        assert!(text.len() > 1 << 22, "large enough to split");
        let one = parse_str(&text).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let pieces = pool.install(|| {
            assert!(split_at_newlines(text.as_bytes(), 11).len() == 3);
            parse_str(&text).unwrap()
        });
        assert_eq!(pieces.rows, one.rows);
        assert_eq!(pieces.cells, one.cells);
        assert_eq!(format!("{:?}", pieces.refs), format!("{:?}", one.refs));
        assert!(matches!(&one.refs, RowRefs::Lines(Some(l)) if l.len() == n));
        // A bad record late in the file: the same message, with its line.
        let bad = format!("{text}1,2\n");
        let e1 = parse_str(&bad).unwrap_err().message;
        let e2 = pool.install(|| parse_str(&bad).unwrap_err().message);
        assert_eq!(e1, e2);
        assert!(e1.contains(&format!("line {}", n + 2 + 5)), "{e1}");
    }

    fn cells(t: &Table) -> Vec<Vec<String>> {
        (0..t.len())
            .map(|r| t.cells.iter().map(|c| c.get(r).to_string()).collect())
            .collect()
    }

    #[test]
    fn fast_path_numbers_agree_with_value_parse() {
        for s in [
            "0",
            "-0",
            "7",
            "007",
            "-12",
            "123456789012345678",
            "0.5",
            "-0.25",
            ".5",
            "5.",
            "1.0",
            "-0.0",
            "0.1",
            "0.30000000000000004",
            "1234567.0625",
            "0.0000001",
            "9007199254740993.5",
            "1e5",
            "1234567890123456789",
            "99999999999999999999",
            "12345678901234567.5",
        ] {
            let t = parse_str(&format!("x\n{s}\n")).unwrap();
            let got = t.cells[0].get(0);
            let want = Value::parse(s);
            assert_eq!(got, want, "{s}");
            assert_eq!(got.to_string(), want.to_string(), "{s}");
        }
    }

    #[test]
    fn columns_are_typed() {
        let t = parse_str("a,b,c,d\n1,0.5,x,1\n2,2,y,1.5\n").unwrap();
        assert_eq!(t.cells[0], Column::Int(vec![1, 2]));
        assert_eq!(t.cells[1], Column::Float(vec![0.5, 2.0]));
        assert!(matches!(t.cells[2], Column::Mixed(_)));
        assert_eq!(t.cells[3], Column::Float(vec![1.0, 1.5]));
    }

    #[test]
    fn quoting_edge_cases() {
        let t = parse_str(
            "name,note\n\"a,b\",\"say \"\"hi\"\"\"\n\"multi\nline\",\"\"\nplain \"q\",\"12\"\n,\n",
        )
        .unwrap();
        assert_eq!(
            cells(&t),
            [
                vec!["a,b", "say \"hi\""],
                vec!["multi\nline", ""],
                vec!["plain \"q\"", "12"],
                vec!["", ""],
            ]
        );
        // A quoted number is that number.
        assert_eq!(t.cells[1].get(2), Value::Int(12));
        // The multi-line record shifts the following line numbers.
        let refs: Vec<RowRef> = (0..4).map(|i| t.row_ref(i)).collect();
        assert_eq!(
            refs,
            [
                RowRef::Line(2),
                RowRef::Line(3),
                RowRef::Line(5),
                RowRef::Line(6)
            ]
        );
    }

    #[test]
    fn bom_crlf_blank_lines_and_missing_final_newline() {
        let t = parse_str("\u{feff}a,b\r\n1,x\r\n\r\n\"2\r\n\",y").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(cells(&t), [vec!["1", "x"], vec!["2", "y"]]);
        assert_eq!(t.row_ref(1), RowRef::Line(4));
        let t = parse_str("a\r\n1\r\n2\r\n").unwrap();
        assert_eq!(t.cells[0], Column::Int(vec![1, 2]));
        assert_eq!(t.row_ref(1), RowRef::Line(3));
        // A lone \r is text.
        let t = parse_str("a,b\nx\ry,1\n").unwrap();
        assert_eq!(t.cells[0].get(0), Value::parse("x\ry"));
    }

    #[test]
    fn cr_only_and_mixed_line_endings() {
        let read = |s: &str| {
            parse(
                &normalize_line_breaks(s.as_bytes().to_vec()),
                Path::new("t.csv"),
                "t",
            )
            .unwrap()
        };
        let cr = read("a,b\r1,x\r2,y\r");
        assert_eq!(cells(&cr), [["1", "x"], ["2", "y"]]);
        let mixed = read("a,b\r\n1,x\n2,y\r3,z");
        assert_eq!(cells(&mixed), [["1", "x"], ["2", "y"], ["3", "z"]]);
        // The header reader sees the same records.
        let dir = std::env::temp_dir().join(format!("nrp-csv-cr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.csv");
        std::fs::write(&f, "a,b\r1,x\r").unwrap();
        assert_eq!(read_header(&f, "t").unwrap(), ["a", "b"]);
        assert_eq!(load(&f, "t").unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn empty_fields_are_empty_strings_and_numbers_may_have_spaces() {
        let t = parse_str("a,b\n, 7 \n").unwrap();
        assert_eq!(t.cells[0].get(0), Value::parse(""));
        assert_eq!(t.cells[1].get(0), Value::Int(7));
    }

    #[test]
    fn duplicate_header_names_are_allowed() {
        let t = parse_str("a,a\n1,2\n").unwrap();
        assert_eq!(t.columns, ["a", "a"]);
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let e = parse_str("src,dst\n1,2\n3\n").unwrap_err().message;
        assert_eq!(
            e,
            "malformed CSV in table `t` (t.csv), line 3: 1 field, but the header has 2 (src, dst)"
        );
        let e = parse_str("src,dst\n1,2\n\n3,4,5,6\n").unwrap_err().message;
        assert!(
            e.contains("line 4: 4 fields, but the header has 2 (src, dst)"),
            "{e}"
        );
        let e = parse_str("src,dst\n1,2\n3,\"4\n5,6\n").unwrap_err().message;
        assert!(
            e.contains("line 3: unterminated quoted field in column `dst`"),
            "{e}"
        );
        let e = parse_str("src,dst\n1,\"2\"x\n").unwrap_err().message;
        assert!(
            e.contains("line 2: text after the closing quote of a field in column `dst`"),
            "{e}"
        );
        let e = parse(b"a\n\xff\n", Path::new("t.csv"), "t")
            .unwrap_err()
            .message;
        assert!(e.contains("line 2: column `a` is not valid UTF-8"), "{e}");
    }

    #[test]
    fn empty_file_is_an_error() {
        for s in ["", "\u{feff}", "\n\r\n"] {
            let e = parse_str(s).unwrap_err().message;
            assert_eq!(
                e,
                "table `t` (t.csv) is empty: a CSV table needs a header row"
            );
        }
        // A header alone is an empty table.
        assert_eq!(parse_str("a,b").unwrap().len(), 0);
    }

    /// A slow byte-at-a-time reading of the same dialect: records as (start line, fields).
    fn reference(input: &[u8]) -> Option<Vec<(u64, Vec<Vec<u8>>)>> {
        let b = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let (mut pos, mut line, mut records) = (0, 1u64, Vec::new());
        let crlf_end = |pos: usize| b[pos] == b'\r' && (pos + 1 == b.len() || b[pos + 1] == b'\n');
        loop {
            while pos < b.len() && (b[pos] == b'\n' || crlf_end(pos)) {
                pos += if b[pos] == b'\n' { 1 } else { 2 };
                line += 1;
            }
            if pos >= b.len() {
                return Some(records);
            }
            let (start, mut fields) = (line, Vec::new());
            'record: loop {
                let mut f = Vec::new();
                if pos < b.len() && b[pos] == b'"' {
                    pos += 1;
                    loop {
                        let c = *b.get(pos)?;
                        if c == b'"' && b.get(pos + 1) == Some(&b'"') {
                            f.push(b'"');
                            pos += 2;
                        } else if c == b'"' {
                            pos += 1;
                            break;
                        } else {
                            line += (c == b'\n') as u64;
                            f.push(c);
                            pos += 1;
                        }
                    }
                    fields.push(f);
                    if pos == b.len() {
                        break 'record;
                    } else if b[pos] == b',' {
                        pos += 1;
                    } else if b[pos] == b'\n' || crlf_end(pos) {
                        pos += if b[pos] == b'\n' { 1 } else { 2 };
                        line += 1;
                        break 'record;
                    } else {
                        return None;
                    }
                } else {
                    loop {
                        if pos >= b.len() {
                            fields.push(f);
                            break 'record;
                        } else if b[pos] == b',' {
                            pos += 1;
                            fields.push(f);
                            break;
                        } else if b[pos] == b'\n' || crlf_end(pos) {
                            pos += if b[pos] == b'\n' { 1 } else { 2 };
                            line += 1;
                            fields.push(f);
                            break 'record;
                        }
                        f.push(b[pos]);
                        pos += 1;
                    }
                }
            }
            records.push((start, fields));
        }
    }

    #[test]
    fn random_inputs_match_a_reference_reader_and_never_panic() {
        let alphabet = b"a1.-,\"\n\r 0e9\xff+";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..30_000 {
            let len = (next() % 24) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let got = parse(&input, Path::new("t.csv"), "t");
            let want = reference(&input).and_then(|recs| {
                let (header, rows) = recs.split_first()?;
                let rows: Vec<(u64, Vec<Value>)> = rows
                    .iter()
                    .map(|(line, f)| {
                        if f.len() != header.1.len() {
                            return None;
                        }
                        let cells = f
                            .iter()
                            .map(|c| Some(Value::parse(std::str::from_utf8(c).ok()?)));
                        Some((*line, cells.collect::<Option<Vec<Value>>>()?))
                    })
                    .collect::<Option<_>>()?;
                let names = header
                    .1
                    .iter()
                    .map(|c| Some(std::str::from_utf8(c).ok()?.to_string()));
                Some((names.collect::<Option<Vec<String>>>()?, rows))
            });
            match (got, want) {
                (Ok(t), Some((names, rows))) => {
                    ok += 1;
                    assert_eq!(t.columns, names, "{input:?}");
                    let got: Vec<(u64, Vec<Value>)> = (0..t.len())
                        .map(|r| {
                            let RowRef::Line(l) = t.row_ref(r) else {
                                unreachable!()
                            };
                            (l, t.cells.iter().map(|c| c.get(r)).collect())
                        })
                        .collect();
                    assert_eq!(got, rows, "{input:?}");
                }
                (Err(_), None) => failed += 1,
                (got, want) => panic!("{input:?}: parse gave {got:?}, the reference {want:?}"),
            }
        }
        // Both outcomes are exercised.
        assert!(ok > 1000 && failed > 1000, "{ok} {failed}");
    }
}
