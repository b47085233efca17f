//! Tokens of NRP text. `#` starts a comment to the end of the line; a UTF-8 byte-order
//! mark at the very start is skipped. Identifiers are Unicode identifiers (UAX #31, as in
//! Rust and Python): `XID_Start` or `_`, then `XID_Continue` characters.
//!
//! The one subtle rule (LANGUAGE.md §7 "Numbers"): a `.` after digits is a decimal point only
//! when a digit follows it; otherwise it ends the statement, so `hidden = 16.` defines 16.

use crate::diag::{Diagnostic, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    /// The literal's text, exactly as written (`1.50`, `2e-3`).
    Number(String),
    Str(String),
    /// `?fit`, `?pred`: the word after the `?`.
    Query(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Dot,
    ColonDash,
    /// `:` (after a function signature).
    Colon,
    /// `->` (a function's return type).
    Arrow,
    Pipe,
    Assign,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    /// `@`: matrix product.
    At,
    StarStar,
    Eof,
}

impl Tok {
    /// How the token reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier `{s}`"),
            Tok::Number(s) => format!("number `{s}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Query(s) => format!("`?{s}`"),
            Tok::Eof => "end of file".into(),
            t => format!("`{}`", t.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Dot => ".",
            Tok::ColonDash => ":-",
            Tok::Colon => ":",
            Tok::Arrow => "->",
            Tok::Pipe => "|",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::StarStar => "**",
            Tok::At => "@",
            _ => "",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// The UTF-8 byte-order mark some editors write at the start of a file.
pub const BOM: char = '\u{feff}';

/// Whether `c` may start an identifier.
pub fn is_ident_start(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_start(c)
}

/// Whether `c` may continue an identifier.
pub fn is_ident_continue(c: char) -> bool {
    unicode_ident::is_xid_continue(c)
}

/// The end of the identifier characters from byte `i` on.
fn scan_ident(text: &str, i: usize) -> usize {
    text[i..]
        .char_indices()
        .find(|&(_, c)| !is_ident_continue(c))
        .map_or(text.len(), |(o, _)| i + o)
}

pub fn lex(text: &str) -> Result<Vec<Token>, Diagnostic> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    // Spans stay byte offsets into `text`, BOM included.
    let mut i = if text.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                i = scan_ident(text, i);
                Tok::Ident(text[start..i].to_string())
            }
            c if c >= 0x80 && text[i..].chars().next().is_some_and(is_ident_start) => {
                i = scan_ident(text, i);
                Tok::Ident(text[start..i].to_string())
            }
            b'0'..=b'9' => {
                i = scan_number(b, i);
                // `16.` ends a statement only before white space, a comment or the end of
                // the text; `1.e3` or `2.x` is neither that nor a decimal (LANGUAGE.md §7).
                if b.get(i) == Some(&b'.')
                    && b.get(i + 1)
                        .is_some_and(|&c| !c.is_ascii_whitespace() && c != b'#')
                {
                    let num = &text[start..i];
                    return Err(Diagnostic::error(
                        format!(
                            "`{num}.` must be followed by a digit (a decimal such as `{num}.0`) \
                             or by white space (the end of the statement)"
                        ),
                        Span::new(i, i + 1),
                    ));
                }
                Tok::Number(text[start..i].to_string())
            }
            b'"' | b'\'' => {
                let (s, end) = scan_string(text, i)?;
                i = end;
                Tok::Str(s)
            }
            b'?' => {
                i += 1;
                let w = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if i == w {
                    // The span is the `?` alone: the next character may be multi-byte,
                    // or there may be none.
                    return Err(Diagnostic::error(
                        "expected `?fit` or `?pred`",
                        Span::new(start, i),
                    ));
                }
                Tok::Query(text[w..i].to_string())
            }
            _ => {
                let two = b.get(i + 1).copied();
                let (tok, len) = match (c, two) {
                    (b':', Some(b'-')) => (Tok::ColonDash, 2),
                    (b':', _) => (Tok::Colon, 1),
                    (b'-', Some(b'>')) => (Tok::Arrow, 2),
                    (b'=', Some(b'=')) => (Tok::EqEq, 2),
                    (b'!', Some(b'=')) => (Tok::Ne, 2),
                    (b'<', Some(b'=')) => (Tok::Le, 2),
                    (b'>', Some(b'=')) => (Tok::Ge, 2),
                    (b'*', Some(b'*')) => (Tok::StarStar, 2),
                    (b'(', _) => (Tok::LParen, 1),
                    (b')', _) => (Tok::RParen, 1),
                    (b'[', _) => (Tok::LBracket, 1),
                    (b']', _) => (Tok::RBracket, 1),
                    (b',', _) => (Tok::Comma, 1),
                    (b';', _) => (Tok::Semi, 1),
                    (b'.', _) => (Tok::Dot, 1),
                    (b'|', _) => (Tok::Pipe, 1),
                    (b'=', _) => (Tok::Assign, 1),
                    (b'<', _) => (Tok::Lt, 1),
                    (b'>', _) => (Tok::Gt, 1),
                    (b'+', _) => (Tok::Plus, 1),
                    (b'-', _) => (Tok::Minus, 1),
                    (b'*', _) => (Tok::Star, 1),
                    (b'/', _) => (Tok::Slash, 1),
                    (b'@', _) => (Tok::At, 1),
                    _ => {
                        let ch = text[i..].chars().next().unwrap_or('?');
                        let span = Span::new(i, i + ch.len_utf8());
                        let hint = match ch {
                            '\u{a0}' => " (a non-breaking space)",
                            BOM => " (a byte-order mark is allowed only at the start)",
                            _ => "",
                        };
                        // Invisible characters by code point.
                        let shown = if ch.is_control()
                            || ch.is_whitespace()
                            || matches!(ch, '\u{200b}'..='\u{200f}' | '\u{2060}' | BOM)
                        {
                            format!("U+{:04X}", ch as u32)
                        } else {
                            format!("`{ch}`")
                        };
                        return Err(Diagnostic::error(
                            format!("unexpected character {shown}{hint}"),
                            span,
                        ));
                    }
                };
                i += len;
                tok
            }
        };
        out.push(Token {
            tok,
            span: Span::new(start, i),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(b.len(), b.len()),
    });
    Ok(out)
}

/// `digits [. digits+] [(e|E) [+-] digits+]`; a `.` not followed by a digit is left alone.
fn scan_number(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

/// A `"…"` or `'…'` string on one line; `\\`, `\"`, `\'`, `\n`, `\t` escapes.
fn scan_string(text: &str, start: usize) -> Result<(String, usize), Diagnostic> {
    let quote = text.as_bytes()[start] as char;
    let mut s = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((off, ch)) = chars.next() {
        let pos = start + 1 + off;
        match ch {
            c if c == quote => return Ok((s, pos + 1)),
            '\n' => break,
            '\\' => match chars.next() {
                Some((_, 'n')) => s.push('\n'),
                Some((_, 't')) => s.push('\t'),
                Some((_, c @ ('\\' | '"' | '\''))) => s.push(c),
                Some((o, c)) => {
                    let at = start + 1 + o;
                    return Err(Diagnostic::error(
                        format!("unknown escape `\\{c}` in string"),
                        Span::new(pos, at + c.len_utf8()),
                    ));
                }
                None => break,
            },
            c => s.push(c),
        }
    }
    Err(
        Diagnostic::error("unterminated string", Span::new(start, start + 1))
            .with_label("string starts here"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn number_then_dot_ends_the_statement() {
        assert_eq!(
            toks("h = 16."),
            [
                Tok::Ident("h".into()),
                Tok::Assign,
                Tok::Number("16".into()),
                Tok::Dot,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("h = 1.5 ."),
            [
                Tok::Ident("h".into()),
                Tok::Assign,
                Tok::Number("1.5".into()),
                Tok::Dot,
                Tok::Eof
            ]
        );
        assert_eq!(toks("1.# c"), [Tok::Number("1".into()), Tok::Dot, Tok::Eof]);
        assert_eq!(toks("1."), [Tok::Number("1".into()), Tok::Dot, Tok::Eof]);
        assert_eq!(toks("1.\n"), [Tok::Number("1".into()), Tok::Dot, Tok::Eof]);
        let e = lex("x = 1.e3 .").unwrap_err();
        assert_eq!(
            e.message,
            "`1.` must be followed by a digit (a decimal such as `1.0`) or by white space (the end of the statement)"
        );
        assert_eq!(e.span, Some(Span::new(5, 6)));
        assert!(lex("h = 16.H(v) :- A(v).").is_err());
        assert_eq!(
            toks("5e-4 2E3 3e"),
            [
                Tok::Number("5e-4".into()),
                Tok::Number("2E3".into()),
                Tok::Number("3".into()),
                Tok::Ident("e".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn operators_and_queries() {
        assert_eq!(
            toks("?fit <a=1> :- == != <= >= ** | ;"),
            [
                Tok::Query("fit".into()),
                Tok::Lt,
                Tok::Ident("a".into()),
                Tok::Assign,
                Tok::Number("1".into()),
                Tok::Gt,
                Tok::ColonDash,
                Tok::EqEq,
                Tok::Ne,
                Tok::Le,
                Tok::Ge,
                Tok::StarStar,
                Tok::Pipe,
                Tok::Semi,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_and_errors() {
        assert_eq!(
            toks(r#"'a"b' "c\"d""#),
            [Tok::Str("a\"b".into()), Tok::Str("c\"d".into()), Tok::Eof]
        );
        assert_eq!(lex("\"abc").unwrap_err().message, "unterminated string");
        assert_eq!(toks("a : b")[1], Tok::Colon);
        assert_eq!(lex("€").unwrap_err().span, Some(Span::new(0, 3)));
        assert_eq!(lex("x\u{feff}").unwrap_err().span, Some(Span::new(1, 4)));
    }

    /// Found by the property tests: the span of a lone `?` reached past the end of the
    /// text, or into the middle of a multi-byte character after it.
    #[test]
    fn lone_question_mark_span_is_the_question_mark() {
        for text in ["?", "?é", "x ?"] {
            let d = lex(text).unwrap_err();
            let at = text.find('?').unwrap();
            assert_eq!(d.span, Some(Span::new(at, at + 1)), "{text:?}");
        }
    }

    #[test]
    fn unicode_identifiers_follow_xid() {
        let t = lex("Größe ζ_1 _é 名前 x١").unwrap();
        let names: Vec<_> = t
            .iter()
            .filter_map(|t| match &t.tok {
                Tok::Ident(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["Größe", "ζ_1", "_é", "名前", "x١"]);
        // Spans are byte offsets.
        assert_eq!(t[1].span, Span::new(8, 12));
        // Not identifier characters: a digit (Arabic-Indic one) cannot start one, nor can
        // a symbol or a combining mark, and none continues one with a symbol.
        for bad in ["١x", "€", "\u{301}a", "a€"] {
            assert!(lex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let t = lex("\u{feff}x = 1 .").unwrap();
        assert_eq!(t[0].tok, Tok::Ident("x".into()));
        assert_eq!(t[0].span, Span::new(3, 4));
        assert_eq!(toks("\u{feff}"), [Tok::Eof]);
        // Anywhere else it is an unexpected character.
        assert_eq!(
            lex("x \u{feff}").unwrap_err().message,
            "unexpected character U+FEFF (a byte-order mark is allowed only at the start)"
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            toks("#lang:relnn\nx # y\n"),
            [Tok::Ident("x".into()), Tok::Eof]
        );
    }
}
