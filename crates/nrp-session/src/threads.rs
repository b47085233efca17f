//! The worker threads of a run: how many a caller may ask for, and the CPU backend.

pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most threads one may ask for: four per available core, and at least 64 (a larger
/// number is a typing error, and each thread reserves a stack).
pub fn max_threads(available: usize) -> usize {
    (4 * available).max(64)
}

/// How messages write the option (`--threads` and a space on the command line, `threads`
/// and `=` in Python).
#[derive(Clone, Copy, Debug)]
pub struct Spelling {
    pub name: &'static str,
    pub sep: &'static str,
}

/// The command line's `--threads N`.
pub const CLI: Spelling = Spelling {
    name: "--threads",
    sep: " ",
};

/// Checks a thread count `n`: an error for 0 or above [`max_threads`], a warning above the
/// available cores.
pub fn check_threads(n: usize, available: usize, s: Spelling) -> Result<Option<String>, String> {
    let max = max_threads(available);
    if n == 0 {
        return Err(format!("`{}` must be at least 1", s.name));
    }
    if n > max {
        return Err(format!(
            "`{}{}{n}` is more than nrp allows here: at most {max} \
             (4 per available core, at least 64; {available} {} available)",
            s.name,
            s.sep,
            cores(available)
        ));
    }
    Ok((n > available).then(|| {
        format!(
            "warning: {}{}{n} is more than the {available} {} available; runs will be slower",
            s.name,
            s.sep,
            cores(available)
        )
    }))
}

fn cores(n: usize) -> &'static str {
    if n == 1 { "core" } else { "cores" }
}

/// The CPU backend with `threads` workers (`None`: all cores), and the warning to show
/// when that is more than the cores.
pub fn backend(
    threads: Option<usize>,
    s: Spelling,
) -> Result<(nrp_tensor::Cpu, Option<String>), String> {
    let available = available_cores();
    let (threads, warning) = match threads {
        Some(n) => (n, check_threads(n, available, s)?),
        None => (available, None),
    };
    let cpu = nrp_tensor::Cpu::new(threads)
        .map_err(|e| format!("cannot start {threads} threads: {e}"))?;
    Ok((cpu, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_above_the_cores_warn_and_above_the_cap_fail() {
        let check = |n, a| check_threads(n, a, CLI);
        assert_eq!(check(2, 2), Ok(None));
        assert_eq!(check(1, 16), Ok(None));
        assert_eq!(
            check(64, 2).unwrap().unwrap(),
            "warning: --threads 64 is more than the 2 cores available; runs will be slower"
        );
        assert_eq!(
            check(2, 1).unwrap().unwrap(),
            "warning: --threads 2 is more than the 1 core available; runs will be slower"
        );
        assert_eq!(
            check(65, 2).unwrap_err(),
            "`--threads 65` is more than nrp allows here: at most 64 (4 per available core, at least 64; 2 cores available)"
        );
        assert_eq!(
            check(128, 32),
            Ok(Some(
                "warning: --threads 128 is more than the 32 cores available; runs will be slower"
                    .into()
            ))
        );
        assert!(check(129, 32).is_err());
        assert_eq!(check(0, 2).unwrap_err(), "`--threads` must be at least 1");
        let py = Spelling {
            name: "threads",
            sep: "=",
        };
        assert_eq!(
            check_threads(0, 2, py).unwrap_err(),
            "`threads` must be at least 1"
        );
        assert!(
            check_threads(65, 2, py)
                .unwrap_err()
                .starts_with("`threads=65`")
        );
    }
}
