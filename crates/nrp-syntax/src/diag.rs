//! Source text, spans and diagnostics rendered with the offending line and a caret.

use std::fmt;

/// A byte range in a [`Source`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A program text with its name (the path shown in messages).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
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
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line + 1, col + 1)
    }

    /// `name:line:col` of a byte offset.
    pub fn location(&self, offset: usize) -> String {
        let (l, c) = self.line_col(offset);
        format!("{}:{l}:{c}", self.name)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
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
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: Some(span),
            label: None,
            notes: vec![],
        }
    }
    /// An error about the program as a whole (no location).
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span: None,
            label: None,
            notes: vec![],
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
            for n in &self.notes {
                out.push_str(&format!("  = note: {n}\n"));
            }
            return out;
        };
        let (line, col) = src.line_col(span.start);
        out.push_str(&format!(
            "{}:{line}:{col}: {kind}: {}\n",
            src.name, self.message
        ));
        let text = src.line_text(line);
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        // Caret under the span, clipped to the first line of a multi-line span.
        let (end_line, end_col) = src.line_col(span.end);
        let line_chars = text.chars().count();
        let last = if end_line == line {
            end_col.max(col + 1)
        } else {
            line_chars + 1
        };
        let width = last.saturating_sub(col).max(1);
        // Tabs keep their width in the caret line so the caret stays aligned.
        let lead: String = text
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!(
            "{pad} |\n{line} | {text}\n{pad} | {lead}{}",
            "^".repeat(width)
        ));
        if let Some(label) = &self.label {
            out.push(' ');
            out.push_str(label);
        }
        out.push('\n');
        for n in &self.notes {
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
