//! Compile-time values: template arguments, guard values and named constants.
//!
//! They are content values ([`Value`]): `1`, `1.0` and `"1"` are one value, so `W<d/2>`
//! with `d = 4` is the instance `W<2>` (RelaNN makes it `W<2.0>`, a second weight set).
//! A bare name that is neither a template parameter nor a constant is the string of its
//! name (`H<Paper, 0>` means `H<'Paper', 0>`), as in RelaNN.

use nrp_data::Value;
use nrp_syntax::Diagnostic;
use nrp_syntax::ast::{BinOp, Expr, ExprKind, Literal};
use std::collections::HashMap;

/// Names with a compile-time value: template parameters and scalar constants.
pub trait Lookup {
    fn value(&self, name: &str) -> Option<Value>;
}

impl Lookup for HashMap<String, Value> {
    fn value(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

/// Evaluates a template argument or a bounding condition's side.
pub fn eval(e: &Expr, names: &dyn Lookup) -> Result<Value, Diagnostic> {
    Ok(match &e.kind {
        ExprKind::Number(n) => Value::parse(n),
        ExprKind::Str(s) => Value::parse(s),
        ExprKind::Ident(n) if n == "True" => Value::Int(1),
        ExprKind::Ident(n) if n == "False" => Value::Int(0),
        ExprKind::Ident(n) => names
            .value(n)
            .unwrap_or_else(|| Value::Str(n.as_str().into())),
        ExprKind::Neg(x) => {
            let v = eval(x, names)?;
            number(&v, x)?;
            arith(BinOp::Sub, &Value::Int(0), &v, e)?
        }
        ExprKind::Chain(first, rest) => {
            let mut acc = eval(first, names)?;
            for (op, x) in rest {
                let v = eval(x, names)?;
                acc = arith(*op, &acc, &v, x)?;
            }
            acc
        }
        ExprKind::Binary(BinOp::Pow, a, b) => {
            let (x, y) = (eval(a, names)?, eval(b, names)?);
            arith(BinOp::Pow, &x, &y, e)?
        }
        _ => {
            return Err(Diagnostic::error(
                "a template argument is a number, a string, a name or arithmetic on them",
                e.span,
            ));
        }
    })
}

fn number(v: &Value, at: &Expr) -> Result<f64, Diagnostic> {
    v.as_f64().ok_or_else(|| {
        Diagnostic::error(
            format!("arithmetic on the string `{v}`: template arithmetic is on numbers"),
            at.span,
        )
    })
}

/// `a op b` on numbers: integers stay exact, `/` is true division (an integral result is
/// an integer again).
pub fn arith(op: BinOp, a: &Value, b: &Value, at: &Expr) -> Result<Value, Diagnostic> {
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let exact = match op {
            BinOp::Add => x.checked_add(*y),
            BinOp::Sub => x.checked_sub(*y),
            BinOp::Mul => x.checked_mul(*y),
            _ => None,
        };
        if let Some(v) = exact {
            return Ok(Value::Int(v));
        }
    }
    let (x, y) = (number(a, at)?, number(b, at)?);
    let r = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div if y == 0.0 => {
            return Err(Diagnostic::error("division by zero", at.span));
        }
        BinOp::Div => x / y,
        BinOp::Pow => x.powf(y),
        _ => {
            return Err(Diagnostic::error(
                format!("`{}` is not arithmetic", op.symbol()),
                at.span,
            ));
        }
    };
    if !r.is_finite() {
        return Err(Diagnostic::error("template arithmetic overflows", at.span));
    }
    Ok(Value::from_f64(r))
}

/// The literal that writes `v` in program text.
pub fn literal(v: &Value) -> Literal {
    match v {
        Value::Str(s) => Literal::Str(s.to_string()),
        v => Literal::Number(v.to_string()),
    }
}

/// The expression that writes `v`, at `span`'s place.
pub fn expr_of(v: &Value, span: nrp_syntax::Span) -> Expr {
    let kind = match v {
        Value::Str(s) => ExprKind::Str(s.to_string()),
        v => {
            let text = v.to_string();
            match text.strip_prefix('-') {
                Some(m) => ExprKind::Neg(Box::new(Expr {
                    kind: ExprKind::Number(m.to_string()),
                    span,
                })),
                None => ExprKind::Number(text),
            }
        }
    };
    Expr { kind, span }
}

/// `Name<a,b>`: an instance's name, its arguments written canonically (integral numbers as
/// integers, strings without quotes).
pub fn instance_key(name: &str, args: &[Value]) -> String {
    let args: Vec<String> = args.iter().map(|v| v.to_string()).collect();
    format!("{name}<{}>", args.join(","))
}
