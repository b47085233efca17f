//! The texts that describe a checked program (`nrp check`) and its grounding (`nrp
//! explain`), shared by the command line and the library session.

use nrp_engine::estimate::RuleEstimate;
use nrp_sema::{Program, display};
use nrp_syntax::Source;

/// What `nrp check` prints: fragments, relations, modules, instances, rules, and with a
/// database the estimated matches of each derived relation (`estimated`: the program as
/// grounded and its estimates).
pub fn check_report(
    program: &Program,
    source: &Source,
    estimated: Option<&(Program, Vec<RuleEstimate>)>,
    with_db: bool,
) -> String {
    let fragments = program.fragments.names();
    let mut out = format!(
        "{}: ok\nfragments: {}\n\nrelations:\n{}",
        source.name,
        if fragments.is_empty() {
            "(none)".to_string()
        } else {
            fragments.join(", ")
        },
        display::relations(program)
    );
    if !program.modules.is_empty() {
        out.push_str(&format!("\nmodules:\n{}", display::modules(program)));
    }
    if !program.instances.is_empty() {
        out.push_str(&format!(
            "\ninstances ({}):\n{}",
            program.instances.len(),
            nrp_expand::describe_instances(&program.instances, source)
        ));
    }
    out.push_str(&format!("\nrules:\n{}", display::rules(program)));
    if let Some((grounded, estimates)) = estimated {
        out.push_str(&format!(
            "\nestimated matches (before grounding, from table sizes and distinct values):\n{}",
            estimate_table(grounded, estimates)
        ));
    }
    if !with_db && program.relations.iter().any(|r| r.dim.is_none()) {
        out.push_str("\n(no --db given: dimensions shown as ? depend on the database)\n");
    }
    out
}

/// One line per derived relation as grounded: its estimated matches, what they take, facts.
pub fn estimate_table(program: &Program, estimates: &[RuleEstimate]) -> String {
    use nrp_data::memory::{format_bytes_f64, format_count};
    let mut rows = vec![[
        "relation".to_string(),
        "matches".into(),
        "bytes".into(),
        "facts".into(),
    ]];
    for e in estimates {
        rows.push([
            program.relations[e.rel].name.clone(),
            format_count(e.bodies.iter().map(|b| b.matches).sum()),
            format_bytes_f64(e.bytes),
            format_count(e.facts),
        ]);
    }
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    rows.iter()
        .map(|r| {
            format!(
                "  {:w0$}  {:w1$}  {:w2$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        })
        .collect()
}
