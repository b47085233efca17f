//! The random differential test with every optimisation off (disabled rules `all,eliminate`:
//! no aggregation push-down before grounding, no plan rewrite): the plain lowering of the
//! core rules must agree with the reference as well, so that a rewrite never hides a bug in
//! it and the rules stay optional. A separate test binary, since the options are set once
//! for every engine its shared helpers build.

mod common;

use common::generator::*;
use nrp_tensor::Cpu;

#[test]
fn unoptimised_engine_agrees_with_reference_on_random_programs() {
    common::set_options(nrp_engine::EngineOptions {
        disabled_rules: nrp_engine::plan::rules::parse_disabled("all,eliminate").unwrap(),
        ..Default::default()
    });
    let cpu = Cpu::new(2).unwrap();
    let (start, cases) = match env_u64("NRP_PROP_SEED") {
        Some(seed) => (seed, 1),
        None => (
            env_u64("NRP_PROP_START").unwrap_or(0),
            env_u64("NRP_PROP_CASES").map_or(1000, |n| (n / 3).max(1)),
        ),
    };
    let mut agreed = 0;
    for seed in start..start + cases {
        let case = generate(seed);
        match check_case(&case, &cpu) {
            Outcome::Disagree(e) => {
                let small = shrink(&case, &cpu);
                panic!(
                    "unoptimised, seed {seed} (replay: NRP_PROP_SEED={seed}): {e}\nshrunk case:\n{}",
                    small.describe()
                );
            }
            Outcome::Agree { .. } => agreed += 1,
            Outcome::Rejected(_) => {}
        }
    }
    for seed in start..start + cases / 25 {
        let case = generate_big(seed);
        if let Outcome::Disagree(e) = check_case(&case, &cpu) {
            panic!("unoptimised, big case {seed}: {e}\n{}", case.describe());
        }
    }
    eprintln!("{cases} cases from seed {start} without optimisations: {agreed} agree");
    assert!(cases < 100 || agreed * 4 > cases as usize * 3);
}
