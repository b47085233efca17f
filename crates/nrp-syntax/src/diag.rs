//! Source text, spans and diagnostics rendered with the offending line and a caret.

use std::fmt;

/// A byte range in a [`Source`], and the template instance it was copied into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// 0: the program as written; otherwise the template or function instance (numbered
    /// by the expansion, `nrp_expand`) whose statements carry this text, so that an error
    /// there can name the instantiation chain.
    pub origin: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            origin: 0,
        }
    }
    /// The smallest span covering both (in `self`'s instance).
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
            origin: self.origin,
        }
    }
}

/// A program text with its name (the path shown in messages).
///
/// A source may be made of several named parts ([`Source::concat`]: the texts a library
/// session was given one after the other); a location then names the part and counts lines
/// from its start.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name of a message without a location (the last part's).
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
    /// Every part, for a concatenation: (byte offset, 0-based line where it starts, name).
    parts: Vec<(usize, usize, String)>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Source {
            name: name.into(),
            text,
            line_starts,
            parts: vec![],
        }
    }

    /// One source of several named texts, each starting on a line of its own; returns it
    /// with the byte offset where each text starts (add it to the spans of a text parsed on
    /// its own: `ast::Program::for_each_span`). Locations name the part and count its
    /// lines from 1. No parts: an empty source named `<empty>`.
    pub fn concat(parts: &[(&str, &str)]) -> (Source, Vec<usize>) {
        let mut text = String::new();
        let mut offsets = vec![];
        let mut starts = vec![];
        for (name, part) in parts {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            offsets.push(text.len());
            starts.push((text.len(), text.matches('\n').count(), name.to_string()));
            text.push_str(part);
        }
        let name = parts.last().map_or("<empty>", |p| p.0);
        let mut source = Source::new(name, text);
        source.parts = starts;
        (source, offsets)
    }

    /// The part of a byte offset: its name and its first line (0-based, of the whole text).
    fn part(&self, offset: usize) -> (&str, usize) {
        match self.parts.partition_point(|p| p.0 <= offset) {
            0 => (self.name.as_str(), 0),
            i => (self.parts[i - 1].2.as_str(), self.parts[i - 1].1),
        }
    }

    /// 0-based line of the whole text, and 1-based column (in characters).
    fn global_line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line] + self.bom_len(line);
        let col = self.text[start.min(offset)..offset].chars().count();
        (line, col + 1)
    }

    /// 1-based line (in its part) and column (in characters) of a byte offset. A
    /// byte-order mark at the start of the text is not a column.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let (line, col) = self.global_line_col(offset);
        let (_, first) = self.part(offset);
        (line - first + 1, col)
    }

    /// The length of the byte-order mark that starts 0-based `line` (only the first).
    fn bom_len(&self, line: usize) -> usize {
        if line == 0 && self.text.starts_with(crate::lexer::BOM) {
            crate::lexer::BOM.len_utf8()
        } else {
            0
        }
    }

    /// `name:line:col` of a byte offset.
    pub fn location(&self, offset: usize) -> String {
        let (l, c) = self.line_col(offset);
        format!("{}:{l}:{c}", self.part(offset).0)
    }

    /// The text of a 1-based line of the whole text.
    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1] + self.bom_len(line - 1);
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The source text of a span.
    pub fn slice(&self, span: Span) -> &str {
        let s = floor_char_boundary(&self.text, span.start.min(self.text.len()));
        let e = floor_char_boundary(&self.text, span.end.min(self.text.len()));
        &self.text[s..e.max(s)]
    }
}

/// A source line longer than this many characters is shown shortened around the caret.
pub const MAX_SHOWN_LINE: usize = 120;

/// The line as shown (at most [`MAX_SHOWN_LINE`] characters, `…` where it is cut), the
/// white space before the caret, and the caret's width, for a caret `width` characters wide
/// from character `col0` (0-based).
fn clip_line(text: &str, col0: usize, width: usize) -> (String, String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    // Tabs keep their width in the caret line so the caret stays aligned.
    let blank = |cs: &[char]| -> String {
        cs.iter()
            .map(|&c| if c == '\t' { '\t' } else { ' ' })
            .collect()
    };
    let col0 = col0.min(n);
    if n <= MAX_SHOWN_LINE {
        return (text.to_string(), blank(&chars[..col0]), width);
    }
    // Room for a `…` at each end; the caret a third of the way in.
    let shown = MAX_SHOWN_LINE - 2;
    let start = col0.saturating_sub(shown / 3).min(n - shown);
    let end = start + shown;
    let mut line = String::new();
    let mut lead = String::new();
    if start > 0 {
        line.push('…');
        lead.push(' ');
    }
    line.extend(&chars[start..end]);
    if end < n {
        line.push('…');
    }
    lead.push_str(&blank(&chars[start..col0]));
    (line, lead, width.min(end.saturating_sub(col0)).max(1))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A user-facing error (or warning) about a program, located by a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Option<Span>,
    /// Short text printed after the caret.
    pub label: Option<String>,
    pub notes: Vec<String>,
    /// Notes that point at a place in the source, rendered as `note: {text} at
    /// file:line:column` after the plain notes: the instantiation chain of an error inside
    /// a template or function instance.
    /// (A boxed slice: the error type of every parse step stays small.)
    pub context: Box<[(String, Option<Span>)]>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: Some(span),
            label: None,
            notes: vec![],
            context: Box::default(),
        }
    }
    /// An error about the program as a whole (no location).
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            label: None,
            notes: vec![],
            context: Box::default(),
        }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
    /// A note about another place in the source (`… at file:line:column`).
    pub fn with_context(self, text: impl Into<String>, span: Span) -> Diagnostic {
        self.push_context(text.into(), Some(span))
    }
    /// A note among the [`Diagnostic::with_context`] notes, in their order, without a place.
    pub fn with_context_text(self, text: impl Into<String>) -> Diagnostic {
        self.push_context(text.into(), None)
    }

    fn push_context(mut self, text: String, span: Option<Span>) -> Diagnostic {
        let mut all = std::mem::take(&mut self.context).into_vec();
        all.push((text, span));
        self.context = all.into_boxed_slice();
        self
    }

    fn context_notes(&self, src: &Source) -> Vec<String> {
        self.context
            .iter()
            .map(|(t, s)| match s {
                Some(s) => format!("{t} at {}", src.location(s.start)),
                None => t.clone(),
            })
            .collect()
    }

    /// Renders as
    /// ```text
    /// prog.nrp:3:12: error: unknown relation `Foo`
    ///   |
    /// 3 | H(v; z) :- Foo(v; z) .
    ///   |            ^^^ not a table nor a rule head
    ///   = note: ...
    /// ```
    pub fn render(&self, src: &Source) -> String {
        self.render_kind(src, "error")
    }

    pub fn render_kind(&self, src: &Source, kind: &str) -> String {
        let mut out = String::new();
        let Some(span) = self.span else {
            out.push_str(&format!("{}: {kind}: {}\n", src.name, self.message));
            for n in self.notes.iter().chain(&self.context_notes(src)) {
                out.push_str(&format!("  = note: {n}\n"));
            }
            return out;
        };
        let (line, col) = src.line_col(span.start);
        let (global, _) = src.global_line_col(span.start);
        out.push_str(&format!(
            "{}:{line}:{col}: {kind}: {}\n",
            src.part(span.start).0,
            self.message
        ));
        let text = src.line_text(global + 1);
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        // Caret under the span, clipped to the first line of a multi-line span.
        let (end_global, end_col) = src.global_line_col(span.end);
        let end_line = end_global + line - global;
        let line_chars = text.chars().count();
        let last = if end_line == line {
            end_col.max(col + 1)
        } else {
            line_chars + 1
        };
        let width = last.saturating_sub(col).max(1);
        let (text, lead, width) = clip_line(text, col - 1, width);
        out.push_str(&format!(
            "{pad} |\n{line} | {text}\n{pad} | {lead}{}",
            "^".repeat(width)
        ));
        if let Some(label) = &self.label {
            out.push(' ');
            out.push_str(label);
        }
        out.push('\n');
        for n in self.notes.iter().chain(&self.context_notes(src)) {
            out.push_str(&format!("{pad} = note: {n}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = Source::new("p.nrp", "ab\ncé d\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(3), (2, 1));
        assert_eq!(src.line_col(7), (2, 4)); // 'd' after a 2-byte char
        assert_eq!(src.line_col(100), (3, 1));
    }

    #[test]
    fn a_concatenation_locates_in_its_parts() {
        let (src, offsets) = Source::concat(&[
            ("<run 1>", "x = 1 .\ny = 2 ."),
            ("<run 2>", "\nH(v) :- Foo(v) .\n"),
        ]);
        assert_eq!(offsets, vec![0, 16]);
        assert_eq!(src.name, "<run 2>");
        assert_eq!(src.location(8), "<run 1>:2:1");
        let d = Diagnostic::error("unknown relation `Foo`", Span::new(16 + 9, 16 + 12));
        expect_test::expect![[r#"
            <run 2>:2:9: error: unknown relation `Foo`
              |
            2 | H(v) :- Foo(v) .
              |         ^^^
        "#]]
        .assert_eq(&d.render(&src));
    }

    #[test]
    fn renders_caret_under_span() {
        let src = Source::new("p.nrp", "x = 1 .\nH(v; z) :- Foo(v; z) .\n");
        let d = Diagnostic::error("unknown relation `Foo`", Span::new(19, 22))
            .with_label("not a table")
            .with_note("tables: edge");
        expect_test::expect![[r#"
            p.nrp:2:12: error: unknown relation `Foo`
              |
            2 | H(v; z) :- Foo(v; z) .
              |            ^^^ not a table
              = note: tables: edge
        "#]]
        .assert_eq(&d.render(&src));
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let src = Source::new("p.nrp", "\u{feff}H(v) :- Foo(v) .\nx");
        assert_eq!(src.line_col(3), (1, 1));
        assert_eq!(src.line_col(11), (1, 9));
        assert_eq!(src.line_col(0), (1, 1));
        let d = Diagnostic::error("unknown relation `Foo`", Span::new(11, 14));
        expect_test::expect![[r#"
            p.nrp:1:9: error: unknown relation `Foo`
              |
            1 | H(v) :- Foo(v) .
              |         ^^^
        "#]]
        .assert_eq(&d.render(&src));
    }

    /// A long line is cut around the caret, at most `MAX_SHOWN_LINE` characters; the
    /// rendering never shows a second source line.
    #[test]
    fn long_lines_are_shortened_around_the_caret() {
        let terms: Vec<String> = (0..2000).map(|i| format!("x{i}")).collect();
        let line = format!("H(; {}) :- A(; x) .", terms.join(" + "));
        let text = format!("{line}\n{line}\n");
        let src = Source::new("p.nrp", text.as_str());
        let at = line.find("x1000 ").unwrap();
        let d = Diagnostic::error("unknown name `x1000`", Span::new(at, at + 5));
        let out = d.render(&src);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        let shown = lines[2].strip_prefix("1 | ").unwrap();
        assert_eq!(shown.chars().count(), MAX_SHOWN_LINE, "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        let caret = lines[3].strip_prefix("  | ").unwrap();
        let col = caret.find('^').unwrap();
        assert_eq!(caret.trim(), "^^^^^");
        let under: String = shown.chars().skip(col).take(5).collect();
        assert_eq!(under, "x1000");
        // The start and the end of a long line: one `…` only.
        let d = Diagnostic::error("e", Span::new(0, 1));
        let out = d.render(&src);
        let shown = out.lines().nth(2).unwrap().strip_prefix("1 | ").unwrap();
        assert!(
            shown.starts_with("H(; x0 + ") && shown.ends_with('…'),
            "{shown}"
        );
        let end = line.len();
        let d = Diagnostic::error("e", Span::new(end - 1, end + 1));
        let out = d.render(&src);
        let shown = out.lines().nth(2).unwrap().strip_prefix("1 | ").unwrap();
        assert!(
            shown.starts_with('…') && shown.ends_with(":- A(; x) ."),
            "{shown}"
        );
        assert!(out.lines().nth(3).unwrap().ends_with(" ^"), "{out}");
    }

    #[test]
    fn empty_span_at_end_of_text_gets_one_caret() {
        let src = Source::new("p.nrp", "H(v) :- E(v)");
        let d = Diagnostic::error("expected `.`", Span::new(12, 12));
        expect_test::expect![[r#"
            p.nrp:1:13: error: expected `.`
              |
            1 | H(v) :- E(v)
              |             ^
        "#]]
        .assert_eq(&d.render(&src));
    }
}
