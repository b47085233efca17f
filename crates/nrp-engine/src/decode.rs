//! Decoded columns of a `?pred` relation (`nrp_sema::decode`): the auxiliary relations'
//! f32 values join the relation's content rows, which are then sorted again.

use crate::Output;
use nrp_data::Value;
use std::collections::HashMap;

/// Inserts each part's values (one content column per coordinate) at its written position
/// into `o`'s rows, matched by the other content terms, and re-sorts the rows by content.
pub fn merge(o: &mut Output, parts: &[(usize, Output)]) {
    let mut shift = 0;
    for (pos, part) in parts {
        let at: HashMap<&[Value], usize> = part
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.as_slice(), i))
            .collect();
        let k = part.dim;
        for row in o.rows.iter_mut() {
            let key: Vec<Value> = without(row, parts, *pos);
            let i = *at
                .get(key.as_slice())
                .expect("the auxiliary relation has the decoded relation's tuples");
            let values = part.embeddings[i * k..(i + 1) * k]
                .iter()
                .map(|&x| value(x));
            row.splice(pos + shift..pos + shift, values);
        }
        shift += k.saturating_sub(1);
        o.arity += k;
    }
    sort(o);
}

/// The decoded value as content: the shortest text that reads back as the f32 (`2`, `0.25`),
/// so that output shows what the engine computed, not the f32's binary expansion.
pub fn value(x: f32) -> Value {
    Value::parse(&nrp_data::format_f32(x))
}

/// `row` without the decoded columns inserted so far (those before part `upto`'s position).
fn without(row: &[Value], parts: &[(usize, Output)], upto: usize) -> Vec<Value> {
    let mut drop = vec![false; row.len()];
    let mut shift = 0;
    for (pos, part) in parts.iter().take_while(|(p, _)| *p < upto) {
        for d in drop.iter_mut().skip(pos + shift).take(part.dim) {
            *d = true;
        }
        shift += part.dim.saturating_sub(1);
    }
    row.iter()
        .zip(&drop)
        .filter(|(_, d)| !**d)
        .map(|(v, _)| v.clone())
        .collect()
}

fn sort(o: &mut Output) {
    let mut perm: Vec<usize> = (0..o.rows.len()).collect();
    perm.sort_by(|&a, &b| o.rows[a].cmp(&o.rows[b]));
    let d = o.dim;
    o.rows = perm
        .iter()
        .map(|&i| std::mem::take(&mut o.rows[i]))
        .collect();
    if o.embeddings.len() == perm.len() * d {
        o.embeddings = perm
            .iter()
            .flat_map(|&i| o.embeddings[i * d..(i + 1) * d].iter().copied())
            .collect();
    }
    if let Some(c) = &mut o.counts {
        *c = perm.iter().map(|&i| c[i]).collect();
    }
}
