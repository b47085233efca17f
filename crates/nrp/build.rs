//! Generates one `#[test]` per golden case under `tests/programs/` (see tests/golden.rs), so
//! that each case runs on its own by name: `cargo test -p nrp --test golden -- errors_cli`.

use std::path::Path;

fn main() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs");
    println!("cargo::rerun-if-changed={}", cases.display());
    let mut names: Vec<String> = std::fs::read_dir(&cases)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::new();
    for name in &names {
        let ident: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push_str(&format!(
            "#[test]\nfn {ident}() {{\n    golden_case({name:?});\n}}\n\n"
        ));
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("golden_cases.rs");
    std::fs::write(dest, out).unwrap();
}
