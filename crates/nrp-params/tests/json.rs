//! The JSON parser and writer: RFC 8259 edge cases.

use nrp_params::json::{self, MAX_DEPTH, Value, parse};

fn err(text: &str) -> String {
    match parse(text) {
        Ok(v) => panic!("{text:?} parsed as {v:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn literals_and_whitespace() {
    assert_eq!(parse("null").unwrap(), Value::Null);
    assert_eq!(parse(" \t\r\n true \n").unwrap(), Value::Bool(true));
    assert_eq!(parse("false").unwrap(), Value::Bool(false));
    assert!(err("nul").contains("invalid literal"));
    assert!(err("True").contains("unexpected character"));
    assert!(err("").contains("unexpected end"));
    assert!(err("   ").contains("unexpected end"));
    assert!(err("null x").contains("after the JSON value"));
    assert!(err("\u{a0}1").contains("unexpected character")); // only JSON white space
}

#[test]
fn numbers() {
    let n = |t: &str| parse(t).unwrap().as_f64().unwrap();
    assert_eq!(n("0"), 0.0);
    assert!(n("-0").is_sign_negative());
    assert_eq!(n("42"), 42.0);
    assert_eq!(n("-12.5e+2"), -1250.0);
    assert_eq!(n("1E-2"), 0.01);
    assert_eq!(n("0.1"), 0.1);
    assert_eq!(n("1.7976931348623157e308"), f64::MAX);
    assert_eq!(n("5e-324"), 5e-324);
    assert_eq!(n("1e-400"), 0.0); // underflow rounds to zero
    assert_eq!(n("9007199254740993"), 9007199254740992.0); // rounds to nearest even
    for bad in [
        "01", "-", "1.", ".5", "+1", "1e", "1e+", "-a", "0x10", "1.e3", "NaN", "Infinity",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(err("1e400").contains("out of range"));
    assert!(err("[1, -1e999]").contains("out of range"));
}

#[test]
fn integer_accessors() {
    assert_eq!(parse("24").unwrap().as_u64(), Some(24));
    assert_eq!(parse("2.5").unwrap().as_u64(), None);
    assert_eq!(parse("-3").unwrap().as_u64(), None);
    assert_eq!(parse("-3").unwrap().as_i64(), Some(-3));
    assert_eq!(parse("9007199254740992").unwrap().as_u64(), Some(1 << 53));
    assert_eq!(parse("1e20").unwrap().as_u64(), None);
    assert_eq!(parse("\"3\"").unwrap().as_u64(), None);
}

#[test]
fn string_escapes() {
    let s = |t: &str| parse(t).unwrap().as_str().unwrap().to_string();
    assert_eq!(s(r#""a\"b\\c\/d""#), "a\"b\\c/d");
    assert_eq!(s(r#""\b\f\n\r\t""#), "\u{8}\u{c}\n\r\t");
    assert_eq!(s(r#""\u0041\u00e9\u00E9\u4e2d""#), "Aéé中");
    assert_eq!(s(r#""\u0000""#), "\0");
    assert_eq!(s(r#""\uD83D\uDE00 \ud834\udd1e""#), "😀 𝄞");
    assert_eq!(s("\"héllo wörld 😀\""), "héllo wörld 😀"); // raw UTF-8 passes through
    assert_eq!(s(r#""""#), "");
}

#[test]
fn bad_strings() {
    assert!(err(r#""\ud83d""#).contains("unpaired surrogate"));
    assert!(err(r#""\ud83d x""#).contains("unpaired surrogate"));
    assert!(err(r#""\ud83d\u0041""#).contains("unpaired surrogate"));
    assert!(err(r#""\ude00""#).contains("unpaired surrogate"));
    assert!(err(r#""\u12""#).contains("4 hex digits"));
    assert!(err(r#""\u12G4""#).contains("4 hex digits"));
    assert!(err(r#""\x41""#).contains("invalid escape"));
    assert!(err("\"a\nb\"").contains("control character"));
    assert!(err("\"a\tb\"").contains("control character"));
    assert!(err("\"abc").contains("unterminated string"));
    assert!(err("\"abc\\").contains("unterminated string"));
    assert!(err("{\"a\": \"x}").contains("unterminated string"));
}

#[test]
fn arrays_and_objects() {
    let v = parse(r#" { "b" : [1, [], {}, [null, true]], "a": {"x": "y"}, "b": 2 } "#).unwrap();
    let members = v.as_object().unwrap();
    // Document order, duplicates kept; `get` returns the last like Python's json.
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b", "a", "b"]);
    assert_eq!(v.get("b"), Some(&Value::Number(2.0)));
    assert_eq!(v.get("a").unwrap().get("x").unwrap().as_str(), Some("y"));
    assert_eq!(v.get("zz"), None);
    assert_eq!(members[0].1.as_array().unwrap().len(), 4);
    for bad in [
        "[1,]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{1:2}",
        "[",
        "{",
        "]",
        "{\"a\":}",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(err("[1,]").contains("unexpected character"));
    assert!(err("{\"a\" 1}").contains("expected ':'"));
    assert!(err("{a:1}").contains("expected a string key"));
    assert!(err("[1").contains("unexpected end of JSON in an array"));
}

#[test]
fn nesting_is_limited_without_overflowing_the_stack() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse(&ok).is_ok());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(err(&deep).contains("nested too deeply"));
    let very_deep = "[{\"a\":".repeat(100_000);
    assert!(err(&very_deep).contains("nested too deeply"));
}

#[test]
fn error_positions() {
    let e = parse("{\n  \"a\": 1,\n  \"b\": tru\n}").unwrap_err();
    assert_eq!((e.line, e.column), (3, 8));
    assert_eq!(e.offset, 19);
    let e = parse("[\"é\", x]").unwrap_err();
    assert_eq!((e.line, e.column), (1, 7)); // columns count characters, not bytes
    let e = json::parse_bytes(b"{\"a\": \"\xff\"}").unwrap_err();
    assert!(e.message.contains("UTF-8") && e.offset == 7);
}

#[test]
fn writer_escapes_and_numbers() {
    assert_eq!(
        json::quote("a\"b\\c\n\t\u{1}\u{1f}é😀/"),
        r#""a\"b\\c\n\t\u0001\u001fé😀/""#
    );
    let w = |x: f64| Value::Number(x).to_string();
    assert_eq!(w(3.0), "3");
    assert_eq!(w(-0.0), "-0");
    assert_eq!(w(0.1), "0.1");
    assert_eq!(w(-2.5), "-2.5");
    assert_eq!(w(1e-7), "1e-7");
    assert_eq!(w(1.5e300), "1.5e300");
    assert_eq!(w(1e16), "1e16");
    assert_eq!(w(123456789.0), "123456789");
    assert_eq!(w(0.000123), "0.000123");
    assert_eq!(w(f64::NAN), "null");
    assert_eq!(w(f64::INFINITY), "null");
    for x in [
        0.1,
        1.0 / 3.0,
        1e-300,
        5e-324,
        f64::MAX,
        -1e22,
        2f64.powi(60),
        12345.678,
    ] {
        assert_eq!(parse(&w(x)).unwrap().as_f64(), Some(x), "{x}");
    }
}

#[test]
fn write_then_parse_round_trips() {
    let v = Value::object([
        ("name", Value::from("Lin1.weight \"quoted\"\n")),
        (
            "shape",
            Value::Array(vec![Value::from(16usize), Value::from(1433usize)]),
        ),
        ("ok", Value::from(true)),
        ("none", Value::Null),
        (
            "nested",
            Value::object([("x", Value::from(-0.5)), ("e", Value::Array(vec![]))]),
        ),
        ("empty", Value::object(Vec::<(String, Value)>::new())),
        ("unicode", Value::from("\u{0}\u{7f}\u{2028}😀")),
    ]);
    let compact = v.to_string();
    assert_eq!(
        compact,
        concat!(
            r#"{"name":"Lin1.weight \"quoted\"\n","shape":[16,1433],"ok":true,"none":null,"#,
            r#""nested":{"x":-0.5,"e":[]},"empty":{},"unicode":"\u0000"#,
            "\u{7f}\u{2028}😀\"}"
        )
    );
    assert_eq!(parse(&compact).unwrap(), v);
    let pretty = v.to_pretty();
    assert!(pretty.starts_with("{\n  \"name\": "));
    assert!(pretty.contains("\"shape\": [\n    16,\n    1433\n  ]"));
    assert!(pretty.contains("\"e\": []"));
    assert_eq!(parse(&pretty).unwrap(), v);
}

#[test]
fn builders() {
    let mut v = Value::object([("a", Value::from(1))]);
    v.push("b", Value::from(Some("x")));
    v.push("c", Value::from(None::<f64>));
    assert_eq!(v.to_string(), r#"{"a":1,"b":"x","c":null}"#);
    let mut not_obj = Value::from(2.5f32);
    not_obj.push("x", Value::Null); // no-op on non-objects
    assert_eq!(not_obj, Value::Number(2.5));
}
