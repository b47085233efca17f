//! One dictionary of content values per grounding: joins compare `u32` ids, filters and
//! output read the values back.

use nrp_data::{Column, Value};
use std::collections::HashMap;

#[derive(Default, Debug)]
pub struct Dict {
    values: Vec<Value>,
    ids: HashMap<Value, u32>,
    /// Fast path for the common all-integer columns.
    ints: HashMap<i64, u32>,
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
