//! The text encoder `HashBucketTextEncoder(buckets, dim)` (LANGUAGE.md "Encoders and
//! decoders"): a value's text is split at whitespace, each token is hashed with CRC-32
//! (IEEE, as `zlib.crc32` of its UTF-8 bytes) modulo the number of buckets, and the
//! encoder's value is the mean of the table rows of the tokens' buckets. A text without
//! tokens (empty or all whitespace) is the single token `<empty>`. Deterministic across
//! runs and platforms, as RelaNN's encoder of the same name.

use crate::ir::{Expr, ExprKind, Module, ModuleKind, RelKind, Relation};
use nrp_data::Value;
use nrp_syntax::Diagnostic;

/// Every application of a text encoder reads exactly one content column (or constant):
/// `[HashBucketTextEncoder(64, 8)(title)]`, `Enc([title])`.
pub fn check(relations: &[Relation], modules: &[Module]) -> Result<(), Diagnostic> {
    let mut err = None;
    for r in relations {
        let RelKind::Derived(rule) = &r.kind else {
            continue;
        };
        for (_, e) in rule.bodies() {
            if let Some(e) = e {
                e.walk(&mut |n| {
                    if err.is_none() {
                        err = check_one(n, modules);
                    }
                });
            }
        }
    }
    err.map_or(Ok(()), Err)
}

fn check_one(e: &Expr, modules: &[Module]) -> Option<Diagnostic> {
    let ExprKind::Apply(m, args) = &e.kind else {
        return None;
    };
    let module = &modules[*m];
    if !matches!(module.kind, ModuleKind::HashText { .. }) {
        return None;
    }
    match args.as_slice() {
        [a] if matches!(&a.kind, ExprKind::Encode(items, _) if items.len() == 1) => None,
        [a] if matches!(&a.kind, ExprKind::Encode(..)) => Some(Diagnostic::error(
            format!(
                "`{}` ({}) encodes one text column, got {}",
                module.name,
                module.kind.describe(),
                match &a.kind {
                    ExprKind::Encode(items, _) => format!("{} items", items.len()),
                    _ => unreachable!(),
                }
            ),
            a.span,
        )),
        _ => Some(
            Diagnostic::error(
                format!(
                    "`{}` ({}) encodes a text column, not an embedding",
                    module.name,
                    module.kind.describe()
                ),
                e.span,
            )
            .with_note(format!(
                "apply it to a content column in brackets: `[{}(title)]`",
                module.name
            )),
        ),
    }
}

/// The token that stands for a text without tokens.
pub const EMPTY_TOKEN: &str = "<empty>";

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): `zlib.crc32(bytes)`.
pub fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    !bytes.iter().fold(!0u32, |c, &b| {
        table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// The text a value is encoded from: a string as it is, a number as nrp writes it.
pub fn text_of(v: &Value) -> String {
    v.to_string()
}

/// The tokens of a text: its pieces between runs of whitespace (Unicode), or `<empty>`.
pub fn tokens(text: &str) -> Vec<&str> {
    let t: Vec<&str> = text.split_whitespace().collect();
    if t.is_empty() { vec![EMPTY_TOKEN] } else { t }
}

/// The bucket of a token: `crc32(utf8) mod buckets`.
pub fn bucket(token: &str, buckets: usize) -> usize {
    (crc32(token.as_bytes()) as u64 % buckets as u64) as usize
}

/// The buckets of a value's tokens, in order (repeated tokens repeat).
pub fn buckets_of(v: &Value, buckets: usize) -> Vec<usize> {
    tokens(&text_of(v))
        .into_iter()
        .map(|t| bucket(t, buckets))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Python: `zlib.crc32(s.encode("utf-8"))`.
    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 3904355907);
        assert_eq!(crc32(b"hello"), 907060870);
        assert_eq!(crc32(b"<empty>"), 3429859913);
        assert_eq!(crc32("caf\u{e9}".as_bytes()), 2561491637);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            1095738169
        );
    }

    #[test]
    fn tokens_and_buckets() {
        assert_eq!(
            tokens("  Deep\tlearning \n for  graphs "),
            ["Deep", "learning", "for", "graphs"]
        );
        assert_eq!(tokens(""), [EMPTY_TOKEN]);
        assert_eq!(tokens(" \t "), [EMPTY_TOKEN]);
        // Case is kept: `Deep` and `deep` are different tokens.
        assert_eq!(crc32(b"Deep"), 866252643);
        assert_eq!(crc32(b"deep"), 2475907165);
        assert_eq!(bucket("hello", 1024), 907060870 % 1024);
        assert_eq!(
            buckets_of(&Value::Int(42), 1_000_000),
            vec![841265288 % 1_000_000]
        );
        assert_eq!(buckets_of(&Value::parse("a a"), 7), vec![3904355907 % 7; 2]);
    }
}
