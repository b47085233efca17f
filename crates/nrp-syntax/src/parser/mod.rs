//! Recursive-descent parser: tokens → [`Program`]. Stops at the first error.
//!
//! Grammar (LANGUAGE.md §2, §4, §5):
//! ```text
//! program   := statement*
//! statement := IDENT [tparams] '=' expr '.'               -- constant or module
//!            | '?fit' ['<' param (',' param)* '>'] rule '.'
//!            | '?pred' rule '.'
//!            | rule '.'
//!            | function                                   -- see `structure.rs`
//! rule      := head ':-' body
//! head      := IDENT [tparams] '(' [term (',' term)*] [';' [expr]] ')'
//! body      := item (',' item)*  |  atom ('|' atom)+  |  setbody   -- no mixing
//! item      := atom | add CMP add
//! atom      := IDENT [targs] ['(' relrefs ')'] '(' [term (',' term)*] [';' [emb]] ')'
//! emb       := IDENT | ['-'] NUMBER | STRING
//! term      := IDENT | '_' | ['-'] NUMBER | STRING        -- `True`/`False`: 1/0
//! expr      := add [CMP add]                              -- CMP: == != < <= > >=
//! add       := mul (('+'|'-') mul)*                       -- one n-ary node, a loop
//! mul       := unary (('*'|'/') unary)*                   -- one n-ary node, a loop
//! unary     := '-' unary | power
//! power     := postfix ['**' unary]
//! postfix   := primary ('(' [arg (',' arg)*] ')')*
//! primary   := NUMBER | STRING | IDENT [targs] | '(' expr ')' | '[' [term (',' term)*] ']'
//! arg       := [IDENT '='] expr | '*' unary
//! ```

mod structure;

use crate::ast::*;
use crate::diag::{Diagnostic, Span};
use crate::lexer::{Tok, Token, lex};

/// The height of an expression tree (1 for a leaf) is at most this; more is an error rather
/// than a stack overflow in a later recursive walk.
const MAX_DEPTH: usize = 200;
/// Parser recursion (parentheses, unary `-`, `**`, argument lists) is at most this. Twice
/// `MAX_DEPTH`, because the printed form of an expression may need two levels per node
/// (`(-x)`), and whatever parses must print to text that parses again.
const MAX_RECURSION: usize = 2 * MAX_DEPTH + 2;

pub fn parse(text: &str) -> Result<Program, Diagnostic> {
    let tokens = lex(text)?;
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        depth: 0,
        in_filter: false,
    };
    p.program()
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Inside a filter, `a<b` is a comparison, never template arguments.
    in_filter: bool,
}

type PResult<T> = Result<T, Diagnostic>;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }
    fn span(&self) -> Span {
        self.toks[self.pos].span
    }
    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.toks[self.pos - 1].span.end
        }
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, t: &Tok, context: &str) -> PResult<Span> {
        if self.peek() == t {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(&format!("expected {} {context}", t.describe())))
        }
    }
    fn unexpected(&self, what: &str) -> Diagnostic {
        let found = self.peek().describe();
        // At the end of the text, point just after the last token, not at a trailing blank line.
        let span = if *self.peek() == Tok::Eof {
            Span::new(self.prev_end(), self.prev_end())
        } else {
            self.span()
        };
        Diagnostic::error(format!("{what}, found {found}"), span)
    }
    fn ident(&mut self, context: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let span = self.bump().span;
                Ok(Ident { name, span })
            }
            _ => Err(self.unexpected(&format!("expected {context}"))),
        }
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_RECURSION {
            return Err(Diagnostic::error(
                "expression nested too deeply",
                self.span(),
            ));
        }
        Ok(())
    }

    fn program(&mut self) -> PResult<Program> {
        let mut statements = Vec::new();
        while *self.peek() != Tok::Eof {
            statements.push(self.statement()?);
        }
        Ok(Program { statements })
    }

    fn statement(&mut self) -> PResult<Statement> {
        let start = self.span().start;
        let stmt = match self.peek().clone() {
            Tok::Query(word) => {
                let qspan = self.bump().span;
                match word.as_str() {
                    "fit" => {
                        let params = if *self.peek() == Tok::Lt {
                            self.fit_params()?
                        } else {
                            vec![]
                        };
                        let rule = self.rule()?;
                        Statement::Fit(Fit {
                            params,
                            rule,
                            span: Span::new(start, self.prev_end()),
                        })
                    }
                    "pred" => Statement::Pred(self.rule()?),
                    _ => {
                        return Err(Diagnostic::error(
                            format!("unknown statement `?{word}`; expected `?fit` or `?pred`"),
                            qspan,
                        ));
                    }
                }
            }
            Tok::Ident(w) if w == "def" && matches!(self.peek_at(1), Tok::Ident(_)) => {
                return Ok(Statement::Function(self.function()?));
            }
            Tok::Ident(_) if self.at_definition() => {
                let name = self.ident("a name")?;
                let tparams = self.tparams()?;
                self.expect(&Tok::Assign, &format!("after `{}<…>`", name.name))?;
                let value = self.expr()?;
                Statement::Def(Def {
                    name,
                    tparams,
                    value,
                    span: Span::new(start, self.prev_end()),
                })
            }
            Tok::Ident(_) => Statement::Rule(self.rule()?),
            _ => {
                return Err(
                    self.unexpected("expected a rule, a definition `name = …`, `?fit` or `?pred`")
                );
            }
        };
        if *self.peek() != Tok::Dot {
            return Err(self.unexpected("expected `.` at the end of the statement"));
        }
        self.bump();
        Ok(stmt)
    }

    /// `name =` or `name<…> =` (a `>=` closing the parameters counts).
    fn at_definition(&self) -> bool {
        match self.peek_at(1) {
            Tok::Assign => true,
            Tok::Lt => self.angle_close(self.pos + 1).is_some_and(|c| {
                self.toks[c].tok == Tok::Ge
                    || self.toks.get(c + 1).is_some_and(|t| t.tok == Tok::Assign)
            }),
            _ => false,
        }
    }

    fn fit_params(&mut self) -> PResult<Vec<Param>> {
        self.expect(&Tok::Lt, "")?;
        let mut params = Vec::new();
        if self.eat(&Tok::Gt) {
            return Ok(params);
        }
        loop {
            let name = self.ident("a parameter name such as `epochs`")?;
            self.expect(&Tok::Assign, &format!("after parameter `{}`", name.name))?;
            // Parameter values stop before `,` and `>`: `add` has no comparison operators.
            let value = self.add()?;
            params.push(Param { name, value });
            if self.eat(&Tok::Comma) {
                continue;
            }
            if self.eat(&Tok::Gt) {
                return Ok(params);
            }
            return Err(self.unexpected("expected `,` or `>` in `?fit < … >`"));
        }
    }

    fn rule(&mut self) -> PResult<Rule> {
        let start = self.span().start;
        let head = self.head()?;
        if *self.peek() != Tok::ColonDash {
            return Err(self.unexpected(&format!(
                "expected `:-` after the head of `{}`",
                head.name.name
            )));
        }
        self.bump();
        let body = self.body()?;
        Ok(Rule {
            head,
            body,
            span: Span::new(start, self.prev_end()),
        })
    }

    fn head(&mut self) -> PResult<Head> {
        let name = self.ident("a rule head such as `H(v; …)`")?;
        let tparams = self.tparams()?;
        self.expect(&Tok::LParen, &format!("after head `{}`", name.name))?;
        let (terms, decodes) = self.head_terms(&name.name)?;
        let mut expr = None;
        if self.eat(&Tok::Semi) && *self.peek() != Tok::RParen {
            expr = Some(self.expr()?);
        }
        self.expect(&Tok::RParen, &format!("to close head `{}`", name.name))?;
        let span = name.span.to(Span::new(name.span.start, self.prev_end()));
        Ok(Head {
            name,
            tparams,
            terms,
            expr,
            decodes,
            span,
        })
    }

    /// A head's terms, where a position may also be a decode bracket `[D(p)]`.
    fn head_terms(&mut self, owner: &str) -> PResult<(Vec<Term>, Vec<Decode>)> {
        let (mut terms, mut decodes) = (vec![], vec![]);
        if matches!(self.peek(), Tok::Semi | Tok::RParen) {
            return Ok((terms, decodes));
        }
        loop {
            if *self.peek() == Tok::LBracket {
                let start = self.bump().span;
                self.enter()?;
                let expr = self.expr()?;
                self.depth -= 1;
                self.expect(&Tok::RBracket, "to close the decode `[…]`")?;
                decodes.push(Decode {
                    pos: terms.len() + decodes.len(),
                    expr,
                    span: start.to(Span::new(start.start, self.prev_end())),
                });
            } else {
                terms.push(self.term(&format!("in `{owner}(…)`"))?);
            }
            if !self.eat(&Tok::Comma) {
                return Ok((terms, decodes));
            }
        }
    }

    /// Comma-separated terms up to (not including) `;` or `)`.
    fn terms(&mut self, owner: &str) -> PResult<Vec<Term>> {
        let mut terms = Vec::new();
        if matches!(self.peek(), Tok::Semi | Tok::RParen) {
            return Ok(terms);
        }
        loop {
            terms.push(self.term(&format!("in `{owner}(…)`"))?);
            if !self.eat(&Tok::Comma) {
                return Ok(terms);
            }
        }
    }

    /// A term; `context` says where, for messages ("in a filter").
    fn term(&mut self, context: &str) -> PResult<Term> {
        let start = self.span();
        match self.peek().clone() {
            Tok::Ident(name) if name == "_" => Ok(Term::Wildcard(self.bump().span)),
            Tok::Ident(name) if name == "True" || name == "False" => {
                let v = if name == "True" { "1" } else { "0" };
                Ok(Term::Const(Literal::Number(v.into()), self.bump().span))
            }
            Tok::Ident(name) => Ok(Term::Var(Ident {
                name,
                span: self.bump().span,
            })),
            Tok::Number(n) => Ok(Term::Const(Literal::Number(n), self.bump().span)),
            Tok::Str(s) => Ok(Term::Const(Literal::Str(s), self.bump().span)),
            Tok::Minus => {
                self.bump();
                match self.peek().clone() {
                    Tok::Number(n) => {
                        let end = self.bump().span;
                        Ok(Term::Const(Literal::Number(format!("-{n}")), start.to(end)))
                    }
                    _ => Err(self.unexpected("expected a number after `-`")),
                }
            }
            _ => Err(self.unexpected(&format!(
                "expected a term (variable, constant or `_`) {context}"
            ))),
        }
    }

    fn body(&mut self) -> PResult<Body> {
        if self.at_bounded_set() {
            return Ok(Body::Set(Box::new(self.bounded_set()?)));
        }
        let mut atoms = Vec::new();
        let mut filters = Vec::new();
        let first_is_atom = self.at_atom();
        self.body_item(&mut atoms, &mut filters)?;
        if *self.peek() == Tok::Pipe {
            if !first_is_atom {
                return Err(Diagnostic::error(
                    "a union body (`|`) consists of atoms only",
                    filters[0].span,
                ));
            }
            while self.eat(&Tok::Pipe) {
                if !self.at_atom() {
                    return Err(self.unexpected(
                        "expected an atom after `|` (a union body consists of atoms only)",
                    ));
                }
                atoms.push(self.atom()?);
            }
            if *self.peek() == Tok::Comma {
                return Err(Diagnostic::error(
                    "a body cannot mix `,` and `|` (split it into two rules)",
                    self.span(),
                ));
            }
            return Ok(Body::Union(atoms));
        }
        while self.eat(&Tok::Comma) {
            self.body_item(&mut atoms, &mut filters)?;
            if *self.peek() == Tok::Pipe {
                return Err(Diagnostic::error(
                    "a body cannot mix `,` and `|` (split it into two rules)",
                    self.span(),
                ));
            }
        }
        Ok(Body::Conj { atoms, filters })
    }

    fn body_item(&mut self, atoms: &mut Vec<Atom>, filters: &mut Vec<Filter>) -> PResult<()> {
        if self.at_atom() {
            atoms.push(self.atom()?);
            return Ok(());
        }
        if !matches!(
            self.peek(),
            Tok::Ident(_) | Tok::Number(_) | Tok::Str(_) | Tok::Minus | Tok::LParen
        ) {
            return Err(self
                .unexpected("expected an atom such as `Edge(u, v)` or a filter such as `a != b`"));
        }
        filters.push(self.filter()?);
        Ok(())
    }

    /// `lhs CMP rhs`, each side a term or arithmetic over terms (`x + 1 > y`).
    fn filter(&mut self) -> PResult<Filter> {
        self.in_filter = true;
        let lhs = self.add();
        self.in_filter = false;
        let lhs = lhs?;
        let op = match self.peek() {
            Tok::EqEq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Assign => {
                return Err(Diagnostic::error(
                    "`=` is for definitions; compare with `==`",
                    self.span(),
                ));
            }
            _ => return Err(self.unexpected("expected an atom or a filter such as `a != b`")),
        };
        self.bump();
        self.in_filter = true;
        let rhs = self.add();
        self.in_filter = false;
        let rhs = rhs?;
        let span = lhs.span.to(rhs.span);
        Ok(Filter { lhs, op, rhs, span })
    }

    // ---- expressions ----------------------------------------------------------------
    //
    // The `*_h` functions return the expression with its height (1 for a leaf). A height
    // above `MAX_DEPTH` is an error, so that every later recursive walk (printing, sema,
    // evaluation, even `Drop`) stays shallow, however the text was laid out. A chain
    // `a + b - c …` is one node whose operands are a vector, read in a loop: thousands of
    // terms cost one level, as they cost later walks one frame.

    pub(crate) fn expr(&mut self) -> PResult<Expr> {
        Ok(self.expr_h()?.0)
    }

    /// `add` without comparisons, for `?fit` parameter values (they stop before `,` and `>`).
    fn add(&mut self) -> PResult<Expr> {
        Ok(self.add_h()?.0)
    }

    /// `sum [CMP sum]`: comparisons are non-associative (`a < b < c` is an error, not
    /// Python's `a < b and b < c`), and bind looser than `+ -`, as in Python.
    fn expr_h(&mut self) -> PResult<(Expr, usize)> {
        let lhs = self.add_h()?;
        let Some(op) = self.comparison() else {
            return Ok(lhs);
        };
        self.bump();
        let rhs = self.add_h()?;
        if let Some(next) = self.comparison() {
            return Err(Diagnostic::error(
                format!(
                    "comparisons do not chain: parenthesise one, e.g. `(a {} b) {} c`",
                    op.symbol(),
                    next.symbol()
                ),
                self.span(),
            ));
        }
        self.bin(op, lhs, rhs)
    }

    fn comparison(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::EqEq => BinOp::Eq,
            Tok::Ne => BinOp::Ne,
            Tok::Lt => BinOp::Lt,
            Tok::Le => BinOp::Le,
            Tok::Gt => BinOp::Gt,
            Tok::Ge => BinOp::Ge,
            _ => return None,
        })
    }

    fn add_h(&mut self) -> PResult<(Expr, usize)> {
        self.chain(
            |t| match t {
                Tok::Plus => Some(BinOp::Add),
                Tok::Minus => Some(BinOp::Sub),
                _ => None,
            },
            Self::mul_h,
        )
    }

    fn mul_h(&mut self) -> PResult<(Expr, usize)> {
        self.chain(
            |t| match t {
                Tok::Star => Some(BinOp::Mul),
                Tok::Slash => Some(BinOp::Div),
                Tok::At => Some(BinOp::MatMul),
                _ => None,
            },
            Self::unary_h,
        )
    }

    /// `operand (op operand)*` as one [`ExprKind::Chain`], read in a loop: its height is
    /// one more than its tallest operand's, however many operands it has.
    fn chain(
        &mut self,
        op_of: fn(&Tok) -> Option<BinOp>,
        operand: fn(&mut Self) -> PResult<(Expr, usize)>,
    ) -> PResult<(Expr, usize)> {
        let (first, mut h) = operand(self)?;
        let mut rest = Vec::new();
        while let Some(op) = op_of(self.peek()) {
            self.bump();
            let (x, xh) = operand(self)?;
            h = h.max(xh);
            rest.push((op, x));
        }
        let Some((_, last)) = rest.last() else {
            return Ok((first, h));
        };
        let span = first.span.to(last.span);
        self.node(ExprKind::Chain(Box::new(first), rest), span, h + 1)
    }

    fn unary_h(&mut self) -> PResult<(Expr, usize)> {
        if *self.peek() == Tok::Minus {
            let start = self.bump().span;
            self.enter()?;
            let (e, h) = self.unary_h()?;
            self.depth -= 1;
            let span = start.to(e.span);
            return self.node(ExprKind::Neg(Box::new(e)), span, h + 1);
        }
        self.power_h()
    }

    fn power_h(&mut self) -> PResult<(Expr, usize)> {
        let base = self.postfix_h()?;
        if *self.peek() == Tok::StarStar {
            self.bump();
            self.enter()?;
            let exp = self.unary_h()?;
            self.depth -= 1;
            return self.bin(BinOp::Pow, base, exp);
        }
        Ok(base)
    }

    fn postfix_h(&mut self) -> PResult<(Expr, usize)> {
        let (mut e, mut h) = self.primary_h()?;
        while *self.peek() == Tok::LParen {
            self.bump();
            self.enter()?;
            let mut args = Vec::new();
            if *self.peek() != Tok::RParen {
                loop {
                    let (arg, ah) = self.arg_h()?;
                    args.push(arg);
                    h = h.max(ah);
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            }
            self.depth -= 1;
            self.expect(&Tok::RParen, "to close the argument list")?;
            let span = e.span.to(Span::new(e.span.start, self.prev_end()));
            let kind = ExprKind::Call {
                callee: Box::new(e),
                args,
            };
            (e, h) = self.node(kind, span, h + 1)?;
        }
        Ok((e, h))
    }

    fn arg_h(&mut self) -> PResult<(Arg, usize)> {
        if *self.peek() == Tok::Star {
            let start = self.bump().span;
            self.enter()?;
            let (e, h) = self.unary_h()?;
            self.depth -= 1;
            let span = start.to(e.span);
            let (value, h) = self.node(ExprKind::Splat(Box::new(e)), span, h + 1)?;
            return Ok((Arg { name: None, value }, h));
        }
        let name = if let Tok::Ident(_) = self.peek()
            && *self.peek_at(1) == Tok::Assign
        {
            let name = self.ident("an argument name")?;
            self.bump();
            Some(name)
        } else {
            None
        };
        let (value, h) = self.expr_h()?;
        Ok((Arg { name, value }, h))
    }

    fn primary_h(&mut self) -> PResult<(Expr, usize)> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Number(n) => {
                self.bump();
                ExprKind::Number(n)
            }
            Tok::Str(s) => {
                self.bump();
                ExprKind::Str(s)
            }
            Tok::Ident(name) => {
                self.bump();
                if !self.in_filter
                    && self
                        .targs_at(0)
                        .is_some_and(|c| self.toks[c].tok == Tok::Gt)
                {
                    self.enter()?;
                    let args = self.targs()?;
                    self.depth -= 1;
                    ExprKind::Instance(name, args)
                } else {
                    ExprKind::Ident(name)
                }
            }
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let (e, h) = self.expr_h()?;
                self.depth -= 1;
                self.expect(&Tok::RParen, "to close `(`")?;
                // Keep the inner node; widen its span to include the parentheses.
                let e = Expr {
                    kind: e.kind,
                    span: span.to(Span::new(span.start, self.prev_end())),
                };
                return Ok((e, h));
            }
            Tok::LBracket => {
                self.bump();
                self.enter()?;
                let kind = self.encode(span)?;
                self.depth -= 1;
                kind
            }
            _ => return Err(self.unexpected("expected an expression")),
        };
        let span = span.to(Span::new(span.start, self.prev_end()));
        Ok((Expr { kind, span }, 1))
    }

    /// The items of an encode `[…]` after `[`. Plain terms make one `Encode`; an item
    /// `Enc(col)` or `Enc(args)(col)` applies the module `Enc` to the column, written
    /// `Enc([col])` (RelaNN's encoders in brackets); several items are concatenated.
    fn encode(&mut self, start: Span) -> PResult<ExprKind> {
        let mut parts: Vec<Expr> = vec![];
        let mut terms: Vec<Term> = vec![];
        let mut terms_from = start;
        let flush = |terms: &mut Vec<Term>, parts: &mut Vec<Expr>, from: Span| {
            if !terms.is_empty() {
                let span = from.to(terms.last().expect("a term").span());
                parts.push(Expr {
                    kind: ExprKind::Encode(std::mem::take(terms)),
                    span,
                });
            }
        };
        if *self.peek() != Tok::RBracket {
            loop {
                let at_call = matches!(self.peek(), Tok::Ident(_))
                    && self
                        .toks
                        .get(self.pos + 1)
                        .is_some_and(|t| t.tok == Tok::LParen);
                if at_call {
                    flush(&mut terms, &mut parts, terms_from);
                    parts.push(self.encoder()?);
                } else {
                    if terms.is_empty() {
                        terms_from = self.span();
                    }
                    terms.push(self.term("in an encode `[…]`")?);
                }
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        flush(&mut terms, &mut parts, terms_from);
        self.expect(&Tok::RBracket, "to close the encode `[…]`")?;
        Ok(match parts.len() {
            0 => ExprKind::Encode(vec![]),
            1 => parts.pop().expect("one part").kind,
            _ => {
                let span = parts[0].span.to(parts[parts.len() - 1].span);
                ExprKind::Call {
                    callee: Box::new(Expr {
                        kind: ExprKind::Ident("Concat".into()),
                        span,
                    }),
                    args: parts
                        .into_iter()
                        .map(|value| Arg { name: None, value })
                        .collect(),
                }
            }
        })
    }

    /// `Enc(col)` or `Enc(args)(col)` inside `[…]`: the module applied to `[col]`.
    fn encoder(&mut self) -> PResult<Expr> {
        let name = self.ident("an encoder such as `Embedding(3, 8)(col)`")?;
        let mut callee = Expr {
            kind: ExprKind::Ident(name.name.clone()),
            span: name.span,
        };
        self.expect(&Tok::LParen, "after the encoder's name")?;
        // `Enc(args)(col)`: the first group is the constructor's arguments.
        let ctor = !(matches!(self.peek(), Tok::Ident(_))
            && self
                .toks
                .get(self.pos + 1)
                .is_some_and(|t| t.tok == Tok::RParen)
            && self
                .toks
                .get(self.pos + 2)
                .is_none_or(|t| t.tok != Tok::LParen));
        if ctor {
            let mut args = vec![];
            if *self.peek() != Tok::RParen {
                loop {
                    args.push(Arg {
                        name: None,
                        value: self.expr()?,
                    });
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
            }
            self.expect(&Tok::RParen, "to close the encoder's arguments")?;
            let span = name.span.to(Span::new(name.span.start, self.prev_end()));
            callee = Expr {
                kind: ExprKind::Call {
                    callee: Box::new(callee),
                    args,
                },
                span,
            };
            self.expect(
                &Tok::LParen,
                "before the encoded column, as in `Linear(1, 4)(age)`",
            )?;
        }
        let col = self.term("as the encoded column")?;
        self.expect(&Tok::RParen, "to close the encoded column")?;
        let span = name.span.to(Span::new(name.span.start, self.prev_end()));
        let col_span = col.span();
        Ok(Expr {
            kind: ExprKind::Call {
                callee: Box::new(callee),
                args: vec![Arg {
                    name: None,
                    value: Expr {
                        kind: ExprKind::Encode(vec![col]),
                        span: col_span,
                    },
                }],
            },
            span,
        })
    }

    fn bin(
        &self,
        op: BinOp,
        (lhs, lh): (Expr, usize),
        (rhs, rh): (Expr, usize),
    ) -> PResult<(Expr, usize)> {
        let span = lhs.span.to(rhs.span);
        let kind = ExprKind::Binary(op, Box::new(lhs), Box::new(rhs));
        self.node(kind, span, lh.max(rh) + 1)
    }

    fn node(&self, kind: ExprKind, span: Span, height: usize) -> PResult<(Expr, usize)> {
        if height > MAX_DEPTH {
            return Err(Diagnostic::error(
                "expression nested too deeply",
                self.span(),
            ));
        }
        Ok((Expr { kind, span }, height))
    }
}

#[cfg(test)]
mod tests;
