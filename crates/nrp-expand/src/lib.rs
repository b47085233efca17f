//! Expansion: a program with templates, `def` functions and bounded sets → a plain program
//! (LANGUAGE.md v1) that sema checks. The stage between parsing and sema.
//!
//! - A **templated module** `K<L, t> = Linear(d, d) .` becomes one named module per
//!   distinct instance, named by its canonical key (`K<1,paper>`): one set of weights each.
//! - A **templated rule** `R<i>(…) :- …` becomes, per instance, the rules of relation
//!   `R<2>`; a use `R<2>(x; z)` reads that relation.
//! - A **function** call `F<2>(A, B)(x; z)` becomes the function body's rules, with its
//!   parameters replaced by the argument relations and its local names prefixed by the
//!   instance (`F<2>(A,B).Out`); the call reads the last rule's relation. One instance per
//!   (function, template arguments, argument relations), shared by every call.
//! - A **bounded set** `Union(Set(R<i>(x; z) | Meta(i)))` / `Join(Set(…))` becomes a union
//!   or a join of one copy of its atom per binding of the bounding ([`bounded`]).
//!
//! Instances are produced from a work queue, not by recursion, so recursion through
//! template arguments (`H<t, L-1>`) is bounded by [`Options::max_depth`] and never by the
//! stack. Every span of an instance's statements carries the instance's number
//! (`Span::origin`), so an error inside names its instantiation chain ([`annotate`]).

pub mod bounded;
mod expander;
pub mod registry;
pub mod value;

use nrp_syntax::ast::Program;
use nrp_syntax::{Diagnostic, Span};

pub use expander::expand;

/// Limits of the expansion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The longest chain of instances, each instantiated by the one before (a descending
    /// recursion without its base case stops here).
    pub max_depth: usize,
    /// At most this many instances in all.
    pub max_instances: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_depth: 100,
            max_instances: 200_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Module,
    Rule,
    Function,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Rule => "rule",
            Kind::Function => "function",
        }
    }
}

/// One instance of a template or function.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Its key: the module or relation it defines (`K<1,paper>`, `H<Paper,0>`), or for a
    /// function the call (`F<2>(A,B)`).
    pub key: String,
    pub kind: Kind,
    /// The definition it came from, as written (`H<t, L>`).
    pub template: String,
    /// The definition's statement.
    pub defined: Span,
    /// Where it was first needed (in the program text or in another instance's text).
    pub used: Span,
    /// 1 for an instance used by the program as written, one more per instance in between.
    pub depth: usize,
    /// A function instance's value: the relation its calls read (`F<2>(A,B).Out`).
    pub value: Option<String>,
}

/// The expanded program and what was instantiated.
#[derive(Clone, Debug)]
pub struct Expansion {
    pub program: Program,
    /// Instance `k` (1-based, as in `Span::origin`) is `instances[k - 1]`.
    pub instances: Vec<Instance>,
    /// What typed function signatures require of the relations passed and returned;
    /// sema checks them once arities and dimensions are known.
    pub signatures: Vec<SignatureCheck>,
}

/// `P: (int, str; 16)` of a function instance: the relation bound to `P` has 2 content
/// columns and dimension 16.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureCheck {
    pub relation: String,
    /// The number of content types written.
    pub arity: usize,
    /// The embedding dimension: the product of the dimensions written, when they are all
    /// known numbers (`-1` or none: any).
    pub dim: Option<usize>,
    /// The schema, for messages (`(int; T)` with `T = 16` reads `(int; 16)`).
    pub schema: String,
    /// What the schema types (`parameter `Nodes` of `Layer<16>``) and where.
    pub what: String,
    pub span: Span,
}

fn instance_chain(instances: &[Instance], mut origin: u32) -> Vec<&Instance> {
    let mut chain = vec![];
    while origin != 0 {
        let Some(inst) = instances.get(origin as usize - 1) else {
            break;
        };
        chain.push(inst);
        origin = inst.used.origin;
    }
    chain
}

/// Adds the instantiation chain to an error located in an instance's text; at most eight
/// links of a long chain are shown.
pub fn annotate(instances: &[Instance], mut d: Diagnostic) -> Diagnostic {
    let Some(span) = d.span else {
        return d;
    };
    let chain = instance_chain(instances, span.origin);
    let n = chain.len();
    for (i, inst) in chain.iter().enumerate() {
        if n > 8 && (4..n - 4).contains(&i) {
            if i == 4 {
                d = d.with_context_text(format!("… {} more instances …", n - 8));
            }
            continue;
        }
        d = d.with_context(
            format!(
                "in `{}` (an instance of `{}`), instantiated",
                inst.key, inst.template
            ),
            inst.used,
        );
    }
    d
}

/// One line per instance, for `nrp check`: its key, what it instantiates (defined where),
/// and where it was first needed (inside which instance).
pub fn describe_instances(instances: &[Instance], src: &nrp_syntax::Source) -> String {
    let mut out = String::new();
    for inst in instances {
        let (dl, _) = src.line_col(inst.defined.start);
        let (ul, uc) = src.line_col(inst.used.start);
        let within = match inst.used.origin {
            0 => String::new(),
            o => format!(" in `{}`", instances[o as usize - 1].key),
        };
        let value = match &inst.value {
            Some(v) => format!(" -> `{v}`"),
            None => String::new(),
        };
        out.push_str(&format!(
            "  {}{value}: {} `{}` (line {dl}), used at {ul}:{uc}{within}\n",
            inst.key,
            inst.kind.name(),
            inst.template
        ));
    }
    out
}
