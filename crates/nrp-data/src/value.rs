//! Content values: the constants of facts (LANGUAGE.md §1, §3 "Constants").
//!
//! Text that parses as a number *is* that number, whatever its spelling: `1`, `1.0`, `"1"`
//! and `1e0` are one value. Numbers are normalised at construction (an integral float that
//! fits an `i64` becomes `Int`), so derived `Eq`/`Hash` agree with numeric comparison.
//! The total order puts numbers (numerically) before strings (byte-wise).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    /// Finite and not integral-in-`i64` (normalisation guarantees it).
    Float(f64),
    Str(Arc<str>),
}

impl Value {
    /// The value a piece of text denotes: a number if it parses as one, else a string.
    pub fn parse(text: &str) -> Value {
        match parse_number(text) {
            Some(x) => Value::number(x.0, x.1),
            None => Value::Str(Arc::from(text)),
        }
    }

    /// A float, normalised (integral values within `i64` become `Int`).
    pub fn from_f64(x: f64) -> Value {
        // [-2^63, 2^63): exactly the floats that convert to `i64` without saturating.
        if x.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
            Value::Int(x as i64)
        } else {
            Value::Float(x)
        }
    }

    fn number(int: Option<i64>, x: f64) -> Value {
        match int {
            Some(i) => Value::Int(i),
            None => Value::from_f64(x),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            Value::Str(_) => None,
        }
    }

    /// The number an encode `[…]` makes of the value: a number itself, an ISO date or
    /// timestamp (`2024-03-01`, `2024-03-01 12:00:00`) its seconds since the epoch.
    pub fn encoded(&self) -> Option<f64> {
        match self {
            Value::Str(s) => crate::time::iso_seconds(s),
            _ => self.as_f64(),
        }
    }

    pub fn is_number(&self) -> bool {
        !matches!(self, Value::Str(_))
    }
}

/// Parses the number grammar shared by program literals and data cells:
/// `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`, surrounding ASCII white
/// space allowed. Returns the exact integer when the text is an integer literal that fits.
/// `nan`, `inf` and friends are *not* numbers here: as content they would break the order.
pub fn parse_number(text: &str) -> Option<(Option<i64>, f64)> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    let mut is_int = true;
    if i < b.len() && b[i] == b'.' {
        is_int = false;
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        is_int = false;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let x: f64 = t.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    let int = if is_int {
        t.trim_start_matches('+').parse::<i64>().ok()
    } else {
        None
    };
    Some((int, x))
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Value {}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            // Int vs Float never compare equal after normalisation, so f64 order is exact
            // enough except for huge ints; compare via i128 when the float is integral.
            (Int(a), Float(b)) => cmp_int_float(*a, *b),
            (Float(a), Int(b)) => cmp_int_float(*b, *a).reverse(),
            (Str(a), Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Str(_), _) => Ordering::Greater,
            (_, Str(_)) => Ordering::Less,
        }
    }
}

fn cmp_int_float(a: i64, b: f64) -> Ordering {
    if b.fract() == 0.0 && b.abs() < 1.7e38 {
        (a as i128).cmp(&(b as i128)).then(Ordering::Less)
    } else {
        (a as f64).total_cmp(&b).then(if b > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        })
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Int(i) => {
                0u8.hash(state);
                i.hash(state)
            }
            Value::Float(x) => {
                1u8.hash(state);
                x.to_bits().hash(state)
            }
            Value::Str(s) => {
                2u8.hash(state);
                s.hash(state)
            }
        }
    }
}

impl fmt::Display for Value {
    /// The canonical spelling: integers without a point, floats in shortest round-trip
    /// form (see [`format_float`]), strings as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// Shortest round-trip decimal of an f64, spelled as Python's `repr` does: positional for
/// `1e-4 <= |x| < 1e16` (`0.5`, `2.0`), scientific otherwise (`1e-05`, `1.5e+16`).
pub fn format_float(x: f64) -> String {
    format_shortest(x, format!("{x:e}"))
}

/// As [`format_float`] for an f32 (the shortest decimal that reads back to the same f32,
/// as `str(numpy.float32)` prints it).
pub fn format_f32(x: f32) -> String {
    format_shortest(x as f64, format!("{x:e}"))
}

fn format_shortest(x: f64, sci: String) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `sci` is Rust's shortest round-trip digits in the form `-d.ddde-7`.
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{sign}{digits}{}.0", "0".repeat((int_len - n) as usize))
            } else {
                let (a, b) = digits.split_at(int_len as usize);
                format!("{sign}{a}.{b}")
            }
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let m = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_whatever_their_spelling() {
        assert_eq!(Value::parse("1"), Value::parse("1.0"));
        assert_eq!(Value::parse("1"), Value::parse("1e0"));
        assert_eq!(Value::parse(" 7 "), Value::Int(7));
        assert_eq!(Value::parse("007"), Value::Int(7));
        assert!(matches!(Value::parse("1.5"), Value::Float(_)));
        assert!(matches!(Value::parse("nan"), Value::Str(_)));
        assert!(matches!(Value::parse("inf"), Value::Str(_)));
        assert!(matches!(Value::parse("1e"), Value::Str(_)));
        assert!(matches!(Value::parse("."), Value::Str(_)));
        assert!(matches!(Value::parse(""), Value::Str(_)));
        assert!(matches!(Value::parse("0x10"), Value::Str(_)));
        assert_eq!(Value::parse("-0.0"), Value::Int(0));
        assert_eq!(
            Value::parse("99999999999999999999"),
            Value::Float(99999999999999999999.0)
        );
    }

    #[test]
    fn numbers_sort_before_strings() {
        let mut v = [
            Value::parse("b"),
            Value::parse("10"),
            Value::parse("2.5"),
            Value::parse("A"),
            Value::parse("-1"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(|v| v.to_string()).collect();
        assert_eq!(s, ["-1", "2.5", "10", "A", "b"]);
    }

    #[test]
    fn int_float_order_is_exact() {
        assert!(Value::Int(2) < Value::Float(2.5));
        assert!(Value::Float(1.5) < Value::Int(2));
        assert!(Value::Int(i64::MAX) < Value::Float(1e19));
        assert!(Value::Float(-1e19) < Value::Int(i64::MIN));
    }

    #[test]
    fn floats_print_like_python_repr() {
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(2.0), "2.0");
        assert_eq!(format_float(-3.25), "-3.25");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e-5), "1e-05");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(1.5e16), "1.5e+16");
        assert_eq!(format_float(1e15), "1000000000000000.0");
        assert_eq!(format_float(123456.789), "123456.789");
        assert_eq!(format_f32(0.1), "0.1");
        assert_eq!(format_f32(1.0 / 3.0), "0.33333334");
        assert_eq!(format_f32(-1.2345e-7), "-1.2345e-07");
    }
}
