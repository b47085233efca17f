//! Program structure beyond single rules: template parameters and arguments (`K<L, 't'>`),
//! `def … enddef` functions, function-call atoms and bounded sets (`Union(Set(… | …))`).
//! The expansion (`nrp_expand`) gives them meaning; here they are only read.
//!
//! ```text
//! tparams   := '<' tparam (',' tparam)* '>'           -- in heads and `name<…> = …`
//! tparam    := IDENT | ['-'] NUMBER | STRING           -- a literal specialises
//! targs     := '<' add (',' add)* '>'                  -- at use sites; `<` touches the name
//! function  := 'def' IDENT [tparams] '(' [fparam (',' fparam)*] ')' ['->' schema] ':'
//!              statement+ 'enddef' ['.']
//! fparam    := IDENT [':' schema]
//! schema    := '(' [IDENT (',' IDENT)*] [';' [add (',' add)*]] ')'
//! atom      := IDENT [targs] ['(' [relref (',' relref)*] ')'] '(' terms [';' emb] ')'
//! relref    := IDENT [targs]
//! setbody   := ('Union' | 'Join') '(' 'Set' '(' atom '|' bound (',' bound)* ')' ')'
//! bound     := atom | add CMP add
//! ```

use super::{PResult, Parser};
use crate::ast::*;
use crate::diag::{Diagnostic, Span};
use crate::lexer::{Tok, Token};

impl Parser {
    /// The index of the token that closes the `<` at token `lt` (a `>`, or the `>` of a
    /// `>=`), when the tokens up to it can be template arguments: brackets balance and no
    /// statement punctuation comes first.
    pub(super) fn angle_close(&self, lt: usize) -> Option<usize> {
        let (mut angles, mut parens) = (0usize, 0usize);
        for (i, t) in self.toks.iter().enumerate().skip(lt) {
            match t.tok {
                Tok::Lt => angles += 1,
                Tok::Gt | Tok::Ge if parens == 0 => {
                    angles -= 1;
                    if angles == 0 {
                        return Some(i);
                    }
                    if t.tok == Tok::Ge {
                        return None;
                    }
                }
                // Template arguments are arithmetic: no calls, no encodes.
                Tok::LParen if matches!(self.toks[i - 1].tok, Tok::Ident(_)) => return None,
                Tok::LBracket => return None,
                Tok::LParen => parens += 1,
                Tok::RParen => parens = parens.checked_sub(1)?,
                Tok::Dot | Tok::ColonDash | Tok::Semi | Tok::Pipe | Tok::Eof => return None,
                _ => {}
            }
        }
        None
    }

    /// Whether the token at `self.pos + n` is a `<` that touches the name before it and
    /// opens template arguments; then the index of its closing `>`.
    pub(super) fn targs_at(&self, n: usize) -> Option<usize> {
        let i = (self.pos + n).min(self.toks.len() - 1);
        if self.toks[i].tok != Tok::Lt
            || i == 0
            || self.toks[i - 1].span.end != self.toks[i].span.start
        {
            return None;
        }
        self.angle_close(i)
    }

    /// Consumes the `>` closing template parameters or arguments; a `>=` (as in
    /// `K<a>= Linear(…)`) leaves its `=`.
    fn close_angle(&mut self, what: &str) -> PResult<()> {
        match self.peek() {
            Tok::Gt => {
                self.bump();
                Ok(())
            }
            Tok::Ge => {
                let span = self.toks[self.pos].span;
                self.toks[self.pos] = Token {
                    tok: Tok::Assign,
                    span: Span::new(span.start + 1, span.end),
                };
                Ok(())
            }
            _ => Err(self.unexpected(&format!("expected `,` or `>` in {what}"))),
        }
    }

    /// `<p, 'lit', 0>` after a definition's name, if present.
    pub(super) fn tparams(&mut self) -> PResult<Vec<TParam>> {
        let mut params = vec![];
        if !self.eat(&Tok::Lt) {
            return Ok(params);
        }
        loop {
            let start = self.span();
            let p = match self.peek().clone() {
                Tok::Ident(n) if n == "True" || n == "False" => {
                    let v = if n == "True" { "1" } else { "0" };
                    TParam::Lit(Literal::Number(v.into()), self.bump().span)
                }
                Tok::Ident(_) => TParam::Name(self.ident("a template parameter")?),
                Tok::Number(n) => TParam::Lit(Literal::Number(n), self.bump().span),
                Tok::Str(s) => TParam::Lit(Literal::Str(s), self.bump().span),
                Tok::Minus => {
                    self.bump();
                    match self.peek().clone() {
                        Tok::Number(n) => {
                            let end = self.bump().span;
                            TParam::Lit(Literal::Number(format!("-{n}")), start.to(end))
                        }
                        _ => return Err(self.unexpected("expected a number after `-`")),
                    }
                }
                _ => {
                    return Err(self.unexpected(
                        "expected a template parameter (a name, or a literal for a specialisation)",
                    ));
                }
            };
            params.push(p);
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.close_angle("template parameters")?;
            return Ok(params);
        }
    }

    /// `<a, L-1, 'x'>` at a use site, if the next token opens template arguments.
    pub(super) fn targs(&mut self) -> PResult<Vec<Expr>> {
        let mut args = vec![];
        if self.targs_at(0).is_none() {
            return Ok(args);
        }
        self.bump();
        loop {
            args.push(self.add()?);
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.close_angle("template arguments")?;
            return Ok(args);
        }
    }

    /// The index of the `)` matching the `(` at token `open`.
    fn paren_close(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                Tok::Dot | Tok::ColonDash | Tok::Eof => return None,
                _ => {}
            }
        }
        None
    }

    /// Whether an atom starts here: `Name(`, or `Name<…>(`.
    pub(super) fn at_atom(&self) -> bool {
        if !matches!(self.peek(), Tok::Ident(n) if n != "_") {
            return false;
        }
        match self.peek_at(1) {
            Tok::LParen => true,
            Tok::Lt => self
                .targs_at(1)
                .is_some_and(|c| self.toks.get(c + 1).is_some_and(|t| t.tok == Tok::LParen)),
            _ => false,
        }
    }

    pub(super) fn atom(&mut self) -> PResult<Atom> {
        let name = self.ident("an atom such as `Edge(u, v)`")?;
        let targs = self.targs()?;
        if *self.peek() != Tok::LParen {
            return Err(self.unexpected(&format!("expected `(` after `{}`", name.name)));
        }
        // `F(A, B)(x; z)`: the first list names the function's argument relations.
        let call = match self.paren_close(self.pos) {
            Some(c) if self.toks.get(c + 1).is_some_and(|t| t.tok == Tok::LParen) => {
                Some(self.rel_args(&name.name)?)
            }
            _ => None,
        };
        self.expect(&Tok::LParen, &format!("after `{}`", name.name))?;
        let terms = self.terms(&name.name)?;
        let mut emb = None;
        if self.eat(&Tok::Semi) && *self.peek() != Tok::RParen {
            emb = Some(self.emb()?);
        }
        self.expect(&Tok::RParen, &format!("to close atom `{}`", name.name))?;
        let span = Span::new(name.span.start, self.prev_end());
        Ok(Atom {
            name,
            targs,
            call,
            terms,
            emb,
            span,
        })
    }

    /// What follows `;` in a body atom: an embedding variable or a constant embedding.
    fn emb(&mut self) -> PResult<Emb> {
        let start = self.span();
        match self.peek().clone() {
            Tok::Ident(n) if n == "True" || n == "False" => {
                let v = if n == "True" { "1" } else { "0" };
                Ok(Emb::Const(Literal::Number(v.into()), self.bump().span))
            }
            Tok::Ident(_) => Ok(Emb::Var(self.ident("an embedding variable")?)),
            Tok::Number(n) => Ok(Emb::Const(Literal::Number(n), self.bump().span)),
            Tok::Str(s) => Ok(Emb::Const(Literal::Str(s), self.bump().span)),
            Tok::Minus => {
                self.bump();
                match self.peek().clone() {
                    Tok::Number(n) => {
                        let end = self.bump().span;
                        Ok(Emb::Const(Literal::Number(format!("-{n}")), start.to(end)))
                    }
                    _ => Err(self.unexpected("expected a number after `-`")),
                }
            }
            _ => Err(self.unexpected("expected an embedding variable or a constant after `;`")),
        }
    }

    /// `(A, H<1>)`: the relations passed to a function.
    fn rel_args(&mut self, function: &str) -> PResult<Vec<RelRef>> {
        self.expect(&Tok::LParen, &format!("after `{function}`"))?;
        let mut args = vec![];
        if self.eat(&Tok::RParen) {
            return Ok(args);
        }
        loop {
            let name = self.ident(&format!("a relation passed to `{function}`"))?;
            let targs = self.targs()?;
            let span = Span::new(name.span.start, self.prev_end());
            args.push(RelRef { name, targs, span });
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(
                &Tok::RParen,
                &format!("to close the arguments of `{function}`"),
            )?;
            return Ok(args);
        }
    }

    /// Whether a bounded-set body starts here: `Union(Set(` or `Join(Set(`.
    pub(super) fn at_bounded_set(&self) -> bool {
        matches!(self.peek(), Tok::Ident(k) if k == "Union" || k == "Join")
            && *self.peek_at(1) == Tok::LParen
            && matches!(self.peek_at(2), Tok::Ident(s) if s == "Set")
            && *self.peek_at(3) == Tok::LParen
    }

    pub(super) fn bounded_set(&mut self) -> PResult<BoundedSet> {
        let start = self.span();
        let kind = match self.peek() {
            Tok::Ident(k) if k == "Join" => SetKind::Join,
            _ => SetKind::Union,
        };
        self.bump();
        self.bump();
        self.bump();
        self.bump();
        if !self.at_atom() {
            return Err(self.unexpected(&format!(
                "expected an atom in `{}(Set(…))`, such as `R<i>(x; z)`",
                kind.keyword()
            )));
        }
        let atom = self.atom()?;
        if !self.eat(&Tok::Pipe) {
            return Err(self.unexpected(&format!(
                "expected `|` and the bounding in `{}(Set(atom | …))`",
                kind.keyword()
            )));
        }
        let (mut guards, mut conds) = (vec![], vec![]);
        loop {
            if self.at_atom() {
                guards.push(self.atom()?);
            } else {
                conds.push(self.filter()?);
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::RParen, "to close `Set(…)`")?;
        self.expect(&Tok::RParen, &format!("to close `{}(…)`", kind.keyword()))?;
        if matches!(self.peek(), Tok::Comma | Tok::Pipe) {
            return Err(Diagnostic::error(
                format!(
                    "a `{}(Set(…))` body stands alone: put other atoms and filters in the set's bounding or in another rule",
                    kind.keyword()
                ),
                self.span(),
            ));
        }
        Ok(BoundedSet {
            kind,
            atom,
            guards,
            conds,
            span: start.to(Span::new(start.start, self.prev_end())),
        })
    }

    /// `def Name<tparams>(P1: schema, …) -> schema: statements enddef`
    pub(super) fn function(&mut self) -> PResult<Function> {
        let start = self.bump().span;
        let name = self.ident("a function name after `def`")?;
        let tparams = self.tparams()?;
        self.expect(&Tok::LParen, &format!("after `def {}`", name.name))?;
        let mut params = vec![];
        if !self.eat(&Tok::RParen) {
            loop {
                let p = self.ident("a parameter (a relation name)")?;
                let schema = if self.eat(&Tok::Colon) {
                    Some(self.schema()?)
                } else {
                    None
                };
                params.push(FnParam { name: p, schema });
                if self.eat(&Tok::Comma) {
                    continue;
                }
                self.expect(&Tok::RParen, "to close the parameters")?;
                break;
            }
        }
        let ret = if self.eat(&Tok::Arrow) {
            Some(self.schema()?)
        } else {
            None
        };
        self.expect(
            &Tok::Colon,
            &format!("after the signature of `{}`", name.name),
        )?;
        let mut body = vec![];
        loop {
            match self.peek().clone() {
                Tok::Ident(w) if w == "enddef" => {
                    self.bump();
                    break;
                }
                Tok::Ident(w) if w == "def" && matches!(self.peek_at(1), Tok::Ident(_)) => {
                    return Err(Diagnostic::error(
                        format!(
                            "functions do not nest: close `{}` with `enddef` first",
                            name.name
                        ),
                        self.span(),
                    ));
                }
                Tok::Query(_) => {
                    return Err(Diagnostic::error(
                        format!(
                            "`?fit` and `?pred` are not allowed inside a function: close `{}` with `enddef` first",
                            name.name
                        ),
                        self.span(),
                    ));
                }
                Tok::Eof => {
                    return Err(Diagnostic::error(
                        format!("`def {}` is not closed: expected `enddef`", name.name),
                        name.span,
                    ));
                }
                _ => body.push(self.statement()?),
            }
        }
        let end = self.prev_end();
        self.eat(&Tok::Dot);
        if !body.iter().any(|s| matches!(s, Statement::Rule(_))) {
            return Err(Diagnostic::error(
                format!(
                    "function `{}` has no rule: its last rule is its value",
                    name.name
                ),
                name.span,
            ));
        }
        Ok(Function {
            name,
            tparams,
            params,
            ret,
            body,
            span: start.to(Span::new(start.start, end)),
        })
    }

    /// `(int, str; 16, T)`
    fn schema(&mut self) -> PResult<Schema> {
        let start = self.expect(&Tok::LParen, "to start a schema such as `(int; 16)`")?;
        let mut types = vec![];
        while let Tok::Ident(_) = self.peek() {
            types.push(self.ident("a content type")?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let mut dims = vec![];
        if self.eat(&Tok::Semi) {
            while *self.peek() != Tok::RParen {
                dims.push(self.add()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        self.expect(&Tok::RParen, "to close the schema")?;
        Ok(Schema {
            types,
            dims,
            span: start.to(Span::new(start.start, self.prev_end())),
        })
    }
}
