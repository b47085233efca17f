//! Templated definitions by name, and the choice among them for given arguments: the most
//! specific definition whose literal parameters equal the arguments (RelaNN's
//! specialisation), an error when two are equally specific or none matches.

use crate::value::instance_key;
use nrp_data::Value;
use nrp_syntax::ast::{Def, Function, Literal, Rule, Statement, TParam};
use nrp_syntax::print::print_tparams;
use nrp_syntax::{Diagnostic, Span};
use std::collections::HashMap;

/// What a template defines.
#[derive(Clone, Copy, Debug)]
pub enum Defines<'a> {
    /// `K<a> = Linear(…) .`
    Module(&'a Def),
    /// `R<i>(…) :- … .` — the statements of its scope; `Template::rules` says which are
    /// its rules (every rule with this name and pattern: a union, as plain rules).
    Rules(&'a [Statement]),
    /// `def F<…>(…): … enddef`, templated or not.
    Function(&'a Function),
}

#[derive(Clone, Debug)]
pub struct Template<'a> {
    pub name: &'a str,
    /// One slot per parameter: `None` binds any argument, `Some(v)` only `v`.
    pub pattern: Vec<Option<Value>>,
    /// The parameters as written (of the first definition, for messages).
    pub params: &'a [TParam],
    pub body: Defines<'a>,
    /// The (first) defining statement.
    pub span: Span,
    /// For rule templates: the indices, into the statement list, of the rules.
    pub rules: Vec<usize>,
}

impl<'a> Template<'a> {
    /// The rules of a rule template.
    pub fn rule_list(&self) -> Vec<&'a Rule> {
        let Defines::Rules(statements) = self.body else {
            return vec![];
        };
        self.rules
            .iter()
            .filter_map(|&i| match &statements[i] {
                Statement::Rule(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// `H<t, 0>`, as written.
    pub fn signature(&self) -> String {
        format!("{}{}", self.name, print_tparams(self.params))
    }

    pub fn kind(&self) -> &'static str {
        match self.body {
            Defines::Module(_) => "module",
            Defines::Rules(..) => "rule",
            Defines::Function(_) => "function",
        }
    }

    fn specificity(&self) -> usize {
        self.pattern.iter().filter(|s| s.is_some()).count()
    }

    fn matches(&self, args: &[Value]) -> bool {
        self.pattern.len() == args.len()
            && self
                .pattern
                .iter()
                .zip(args)
                .all(|(slot, a)| slot.as_ref().is_none_or(|v| v == a))
    }

    /// The template parameters bound by `args` (literal slots bind nothing).
    pub fn bind(params: &[TParam], args: &[Value]) -> HashMap<String, Value> {
        params
            .iter()
            .zip(args)
            .filter_map(|(p, a)| match p {
                TParam::Name(id) => Some((id.name.clone(), a.clone())),
                TParam::Lit(..) => None,
            })
            .collect()
    }
}

fn pattern(params: &[TParam]) -> Vec<Option<Value>> {
    params
        .iter()
        .map(|p| match p {
            TParam::Name(_) => None,
            TParam::Lit(Literal::Number(n) | Literal::Str(n), _) => Some(Value::parse(n)),
        })
        .collect()
}

/// The templates of one scope: the program's top level, or a function's body.
#[derive(Debug, Default)]
pub struct Registry<'a> {
    by_name: HashMap<&'a str, Vec<Template<'a>>>,
}

impl<'a> Registry<'a> {
    /// Collects the templated definitions, templated rules and functions of `statements`.
    /// `rules` is the statement list itself (rule templates refer to it by index).
    pub fn collect(statements: &'a [Statement]) -> Result<Registry<'a>, Diagnostic> {
        let mut r = Registry::default();
        for (i, s) in statements.iter().enumerate() {
            match s {
                Statement::Def(d) if !d.tparams.is_empty() => {
                    r.add(&d.name.name, &d.tparams, Defines::Module(d), d.span, None)?
                }
                Statement::Rule(rule) if !rule.head.tparams.is_empty() => r.add(
                    &rule.head.name.name,
                    &rule.head.tparams,
                    Defines::Rules(statements),
                    rule.span,
                    Some(i),
                )?,
                Statement::Function(f) => {
                    r.add(&f.name.name, &f.tparams, Defines::Function(f), f.span, None)?
                }
                Statement::Fit(f) if !f.rule.head.tparams.is_empty() => {
                    return Err(Diagnostic::error(
                        "a `?fit` rule cannot be a template: give the loss a plain head",
                        f.rule.head.name.span,
                    ));
                }
                Statement::Pred(p) if !p.head.tparams.is_empty() => {
                    return Err(Diagnostic::error(
                        "a `?pred` rule cannot be a template: give it a plain head",
                        p.head.name.span,
                    ));
                }
                _ => {}
            }
        }
        Ok(r)
    }

    fn add(
        &mut self,
        name: &'a str,
        params: &'a [TParam],
        body: Defines<'a>,
        span: Span,
        rule: Option<usize>,
    ) -> Result<(), Diagnostic> {
        let pattern = pattern(params);
        let list = self.by_name.entry(name).or_default();
        let is_module = matches!(body, Defines::Module(_));
        if let Some(other) = list
            .iter()
            .find(|t| matches!(t.body, Defines::Module(_)) != is_module)
        {
            return Err(Diagnostic::error(
                format!(
                    "`{name}` is both a templated module and a {}: give one of them another name",
                    other.kind()
                ),
                span,
            )
            .with_context(
                format!("the {} `{}` is defined", other.kind(), other.signature()),
                other.span,
            ));
        }
        if let Some(same) = list.iter_mut().find(|t| t.pattern == pattern) {
            // Rules with one head and pattern form a union, as plain rules do.
            if let (Defines::Rules(..), Some(i)) = (same.body, rule) {
                same.rules.push(i);
                return Ok(());
            }
            return Err(Diagnostic::error(
                format!(
                    "`{}` is defined twice with the same template parameters",
                    same.signature()
                ),
                span,
            )
            .with_context("the first definition is", same.span));
        }
        list.push(Template {
            name,
            pattern,
            params,
            body,
            span,
            rules: rule.into_iter().collect(),
        });
        Ok(())
    }

    /// The definition of `name` for `args`, or `None` if this scope defines no `name`.
    pub fn dispatch(
        &self,
        name: &str,
        args: &[Value],
        at: Span,
    ) -> Option<Result<&Template<'a>, Diagnostic>> {
        let list = self.by_name.get(name)?;
        let key = instance_key(name, args);
        let mut found: Vec<&Template<'a>> = list.iter().filter(|t| t.matches(args)).collect();
        found.sort_by_key(|t| std::cmp::Reverse(t.specificity()));
        Some(match found.as_slice() {
            [] => {
                let arities: Vec<usize> = list.iter().map(|t| t.pattern.len()).collect();
                let mut d = if arities.iter().all(|&n| n != args.len()) {
                    Diagnostic::error(
                        format!(
                            "`{name}` takes {} template argument{}; `{key}` gives {}",
                            arities[0],
                            if arities[0] == 1 { "" } else { "s" },
                            args.len()
                        ),
                        at,
                    )
                } else {
                    Diagnostic::error(format!("no definition of `{name}` matches `{key}`"), at)
                };
                for t in list {
                    d = d.with_context(format!("`{}` is defined", t.signature()), t.span);
                }
                Err(d)
            }
            [best, second, ..] if best.specificity() == second.specificity() => {
                Err(Diagnostic::error(
                    format!(
                        "ambiguous template: `{key}` matches `{}` and `{}` equally well",
                        best.signature(),
                        second.signature()
                    ),
                    at,
                )
                .with_note("add a more specific definition, or make one of them more general")
                .with_context(format!("`{}` is defined", best.signature()), best.span)
                .with_context(format!("`{}` is defined", second.signature()), second.span))
            }
            [best, ..] => Ok(*best),
        })
    }
}
