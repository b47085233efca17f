//! `count()` is exact beyond f32's integers (2^24): the 20,818,876-for-20,818,875.

use std::process::Command;

#[test]
fn count_beyond_two_to_the_24_is_exact() {
    let d = std::env::temp_dir().join(format!("nrp-exact-{}", std::process::id()));
    std::fs::create_dir_all(d.join("db")).unwrap();
    // 4097 × 4097 = 16,785,409 matches: odd and above 2^24, so no f32 holds it.
    let column: String = (0..4097).map(|i| format!("{i}\n")).collect();
    std::fs::write(d.join("db/A.csv"), format!("x\n{column}")).unwrap();
    std::fs::write(d.join("db/B.csv"), format!("y\n{column}")).unwrap();
    std::fs::write(d.join("c.nrp"), "?pred N(; count(x)) :- A(x), B(y) .\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_nrp"))
        .args(["run", "c.nrp", "--db", "db", "--json"])
        .current_dir(&d)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("N = 16785409.0\n"), "{out}");
    assert!(out.contains("\"n\":16785409"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}
