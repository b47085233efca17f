//! Making instances: naming them, queueing them, and writing their statements.

use super::{Env, Expander, Job, Names, R, Scope, constants, is_template};
use crate::registry::{Defines, Registry, Template};
use crate::value::{eval, instance_key};
use crate::{Instance, Kind};
use nrp_data::Value;
use nrp_syntax::ast::*;
use nrp_syntax::{Diagnostic, Span};
use std::collections::HashMap;
use std::rc::Rc;

impl<'a> Expander<'a> {
    /// The name of the instance of `t` for `args` (and argument relations), queued for
    /// emission when new.
    pub(super) fn instantiate(
        &mut self,
        t: Template<'a>,
        args: Vec<Value>,
        rel_args: Vec<String>,
        tscope: Rc<Scope<'a>>,
        used: Span,
    ) -> R<String> {
        let prefix = tscope
            .prefix
            .as_ref()
            .map(|p| format!("{p}."))
            .unwrap_or_default();
        let (kind, key, value) = match t.body {
            Defines::Module(_) => (
                Kind::Module,
                format!("{prefix}{}", instance_key(t.name, &args)),
                None,
            ),
            Defines::Rules(_) => (
                Kind::Rule,
                format!("{prefix}{}", instance_key(t.name, &args)),
                None,
            ),
            Defines::Function(f) => {
                if rel_args.len() != f.params.len() {
                    return Err(Diagnostic::error(
                        format!(
                            "`{}` takes {} relation argument{}, this call gives {}",
                            t.signature(),
                            f.params.len(),
                            if f.params.len() == 1 { "" } else { "s" },
                            rel_args.len()
                        ),
                        used,
                    )
                    .with_context(format!("`{}` is defined", t.signature()), t.span));
                }
                let targs = if f.tparams.is_empty() {
                    String::new()
                } else {
                    instance_key("", &args)
                };
                // `H<A,1>` for a parameterless templated function, `F(A,B)` or `F()` else.
                let key = if f.params.is_empty() && !f.tparams.is_empty() {
                    format!("{prefix}{}{targs}", t.name)
                } else {
                    format!("{prefix}{}{targs}({})", t.name, rel_args.join(","))
                };
                let last = last_rule(f)?;
                let value = format!("{key}.{}", last.head.name.name);
                (Kind::Function, key, Some(value))
            }
        };
        let result = value.clone().unwrap_or_else(|| key.clone());
        if let Some(&id) = self.keys.get(&key) {
            self.uses[self.current as usize].push(id);
            return Ok(result);
        }
        let depth = match used.origin {
            0 => 1,
            o => self.instances[o as usize - 1].depth + 1,
        };
        if depth > self.options.max_depth {
            return Err(Diagnostic::error(
                format!(
                    "template recursion deeper than {} instances while instantiating `{key}`: is a base case missing?",
                    self.options.max_depth
                ),
                used,
            )
            .with_note(format!(
                "`{}` has no definition that ends the recursion for these arguments; a specialisation such as `{}<…, 0>` does",
                t.name, t.name
            ))
            .with_note(format!(
                "the limit is {}; `--template-depth N` changes it",
                self.options.max_depth
            )));
        }
        if self.instances.len() >= self.options.max_instances {
            return Err(Diagnostic::error(
                format!(
                    "more than {} template instances: the program expands without end or is far too large",
                    self.options.max_instances
                ),
                used,
            ));
        }
        self.instances.push(Instance {
            key: key.clone(),
            kind,
            template: t.signature(),
            defined: t.span,
            used,
            depth,
            value: value.clone(),
        });
        let id = self.instances.len() as u32;
        if let Defines::Function(f) = t.body {
            let env = Template::bind(&f.tparams, &args);
            let typed = f
                .params
                .iter()
                .zip(&rel_args)
                .filter_map(|(p, r)| {
                    let what = format!("parameter `{}` of `{key}`", p.name.name);
                    p.schema.as_ref().map(|s| (s, r.clone(), what, used))
                })
                .chain(f.ret.as_ref().map(|s| {
                    let value = value.clone().unwrap_or_default();
                    (s, value, format!("the value of `{key}`"), s.span)
                }))
                .collect::<Vec<_>>();
            for (schema, relation, what, span) in typed {
                let check = self.signature(schema, relation, what, span, &env)?;
                self.signatures.push(check);
            }
        }
        self.keys.insert(key, id);
        self.uses[self.current as usize].push(id);
        self.uses.push(vec![]);
        self.written.push(vec![]);
        self.queue.push_back(Job {
            id,
            template: t,
            args,
            rel_args,
            scope: tscope,
        });
        Ok(result)
    }

    /// A typed parameter or return type, its dimensions evaluated (`T` bound).
    fn signature(
        &self,
        schema: &Schema,
        relation: String,
        what: String,
        span: Span,
        env: &Env,
    ) -> R<crate::SignatureCheck> {
        let names = Names {
            env,
            scope: &Env::new(),
            global: &self.consts,
        };
        let mut dims = vec![];
        for d in &schema.dims {
            let v = eval(d, &names)?;
            match v.as_f64() {
                Some(x) if x.fract() == 0.0 => dims.push(x as i64),
                _ => {
                    return Err(Diagnostic::error(
                        format!(
                            "a dimension is a whole number or a name bound to one; here it is `{v}`"
                        ),
                        d.span,
                    ));
                }
            }
        }
        let dim = if dims.iter().all(|&d| d >= 0) && !dims.is_empty() {
            dims.iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        } else {
            None
        };
        let types: Vec<&str> = schema.types.iter().map(|t| t.name.as_str()).collect();
        let shown: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        Ok(crate::SignatureCheck {
            relation,
            arity: schema.types.len(),
            dim,
            schema: if shown.is_empty() {
                format!("({})", types.join(", "))
            } else {
                format!("({}; {})", types.join(", "), shown.join(", "))
            },
            what,
            span,
        })
    }

    /// Writes the statements of one instance.
    pub(super) fn emit(&mut self, job: Job<'a>) -> R<()> {
        let mut out = vec![];
        let key = self.instances[job.id as usize - 1].key.clone();
        match job.template.body {
            Defines::Module(d) => {
                let env = within(&job.scope, Template::bind(&d.tparams, &job.args));
                let mut s = self.statement(&Statement::Def(d.clone()), &job.scope, &env, job.id)?;
                if let Statement::Def(d) = &mut s {
                    d.name.name = key;
                    d.tparams.clear();
                }
                out.push(s);
            }
            Defines::Rules(_) => {
                for rule in job.template.rule_list() {
                    let env = within(&job.scope, Template::bind(&rule.head.tparams, &job.args));
                    let mut s =
                        self.statement(&Statement::Rule(rule.clone()), &job.scope, &env, job.id)?;
                    if let Statement::Rule(r) = &mut s {
                        r.head.name.name = key.clone();
                        r.head.tparams.clear();
                    }
                    out.push(s);
                }
            }
            Defines::Function(f) => {
                let env = Template::bind(&f.tparams, &job.args);
                let mut scope = Scope {
                    prefix: Some(key.clone()),
                    local: Some(Rc::new(Registry::collect(&f.body)?)),
                    renames: HashMap::new(),
                    consts: Env::new(),
                    env: env.clone(),
                };
                for s in &f.body {
                    let name = match s {
                        Statement::Rule(r) if r.head.tparams.is_empty() => &r.head.name.name,
                        Statement::Def(d) if d.tparams.is_empty() => &d.name.name,
                        _ => continue,
                    };
                    scope.renames.insert(name.clone(), format!("{key}.{name}"));
                }
                for (p, a) in f.params.iter().zip(&job.rel_args) {
                    scope.renames.insert(p.name.name.clone(), a.clone());
                }
                scope.consts = constants(&f.body, &env, &self.consts);
                for s in &f.body {
                    if is_template(s) {
                        continue;
                    }
                    let s = self.statement(s, &scope, &env, job.id)?;
                    out.push(s);
                }
            }
        }
        self.written[job.id as usize] = out;
        Ok(())
    }
}

/// A function's value: its last rule, which must be a plain one.
fn last_rule(f: &Function) -> R<&Rule> {
    let last = f
        .body
        .iter()
        .rev()
        .find_map(|s| match s {
            Statement::Rule(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| {
            Diagnostic::error(
                format!(
                    "function `{}` has no rule: its last rule is its value",
                    f.name.name
                ),
                f.name.span,
            )
        })?;
    if !last.head.tparams.is_empty() {
        return Err(Diagnostic::error(
            format!(
                "the last rule of `{}` is its value and cannot be a template",
                f.name.name
            ),
            last.head.span,
        )
        .with_note("end the function with a plain rule that reads the instance you mean"));
    }
    Ok(last)
}

/// A local template's parameters over those of the function instance it is declared in.
fn within(scope: &Scope, own: Env) -> Env {
    let mut env = scope.env.clone();
    env.extend(own);
    env
}
