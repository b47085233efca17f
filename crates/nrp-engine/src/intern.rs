//! One dictionary of content values per grounding: joins compare `u32` ids, filters and
//! output read the values back.

use nrp_data::{Column, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hash (FxHash's) for integer keys: interning millions of ids with
/// SipHash costs more than the join that uses them.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

#[derive(Default, Debug)]
pub struct Dict {
    values: Vec<Value>,
    ids: HashMap<Value, u32>,
    /// Fast path for the common all-integer columns.
    ints: FxMap<i64, u32>,
    /// `rank[id]`: the value's position in content order, once frozen.
    rank: Vec<u32>,
}

impl Dict {
    pub fn intern(&mut self, v: &Value) -> u32 {
        if let Value::Int(i) = v {
            return self.intern_int(*i);
        }
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.push(v.clone());
        self.ids.insert(v.clone(), id);
        id
    }

    fn intern_int(&mut self, i: i64) -> u32 {
        if let Some(&id) = self.ints.get(&i) {
            return id;
        }
        let id = self.push(Value::Int(i));
        self.ints.insert(i, id);
        id
    }

    fn push(&mut self, v: Value) -> u32 {
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.values.push(v);
        id
    }

    pub fn intern_column(&mut self, c: &Column) -> Vec<u32> {
        match c {
            Column::Int(xs) => xs.iter().map(|&i| self.intern_int(i)).collect(),
            _ => (0..c.len()).map(|i| self.intern(&c.get(i))).collect(),
        }
    }

    /// The id of a value already interned.
    pub fn id(&self, v: &Value) -> Option<u32> {
        match v {
            Value::Int(i) => self.ints.get(i).copied(),
            v => self.ids.get(v).copied(),
        }
    }

    /// Ranks every value in content order (numbers, then strings), so that comparisons are
    /// integer comparisons. Values interned later compare by value.
    pub fn freeze(&mut self) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        self.rank = vec![0; self.values.len()];
        for (r, &id) in order.iter().enumerate() {
            self.rank[id as usize] = r as u32;
        }
    }

    /// Content order of two ids.
    pub fn cmp(&self, a: u32, b: u32) -> std::cmp::Ordering {
        match (self.rank.get(a as usize), self.rank.get(b as usize)) {
            (Some(x), Some(y)) => x.cmp(y),
            _ => self.values[a as usize].cmp(&self.values[b as usize]),
        }
    }

    /// The rank of an id (its position in content order), when frozen.
    pub fn rank(&self, id: u32) -> Option<u32> {
        self.rank.get(id as usize).copied()
    }

    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_an_id() {
        let mut d = Dict::default();
        let a = d.intern(&Value::parse("1"));
        let b = d.intern(&Value::parse("1.0"));
        let c = d.intern(&Value::parse("x"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(d.intern_column(&Column::Int(vec![1, 2])), vec![a, 2]);
        assert_eq!(d.value(c), &Value::parse("x"));
    }
}
