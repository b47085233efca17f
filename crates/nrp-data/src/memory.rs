//! Memory sizes: the budget that every stage compares its sizes with *before* it touches
//! memory (parameters at check time, match lists before and while grounding, tensors when
//! the plan is built), how sizes are written (`512M`, `8G`) and printed (`40 PB`), and the
//! default budget of this machine.
//!
//! Sizes are decimal, as disks and `ls -h --si` count them: `8G` is 8·10⁹ bytes and prints
//! as `8 GB`; `Ki`, `Mi`, `Gi`, … (`8GiB`) are the binary multiples.

/// The fraction of the machine's memory that the default budget allows.
pub const DEFAULT_FRACTION: f64 = 0.75;

/// Where the default budget came from, for messages: "75% of 24.7 GB (MemTotal)".
#[derive(Clone, Debug, PartialEq)]
pub struct MachineMemory {
    /// The smallest of the limits found, in bytes.
    pub bytes: u64,
    /// Which limit that is (`MemTotal`, `the cgroup's memory limit`, `RLIMIT_AS`, or a
    /// fallback).
    pub source: &'static str,
}

impl MachineMemory {
    /// [`DEFAULT_FRACTION`] of the memory found.
    pub fn budget(&self) -> u64 {
        (self.bytes as f64 * DEFAULT_FRACTION) as u64
    }
}

/// Assumed where the memory cannot be read (not Linux, or no `/proc`): 8 GB.
pub const FALLBACK_MEMORY: u64 = 8_000_000_000;

/// The memory this process may use: the smallest of the physical memory (`MemTotal` in
/// `/proc/meminfo`), its cgroup's limit (v2 `memory.max`, v1 `memory.limit_in_bytes`, the
/// process's cgroup and its ancestors) and its address-space limit (`RLIMIT_AS`, from
/// `/proc/self/limits`). Off Linux, or when none can be read, [`FALLBACK_MEMORY`].
pub fn machine_memory() -> MachineMemory {
    let mut best: Option<MachineMemory> = None;
    let mut offer = |bytes: Option<u64>, source: &'static str| {
        if let Some(bytes) = bytes.filter(|&b| b > 0)
            && best.as_ref().is_none_or(|b| bytes < b.bytes)
        {
            best = Some(MachineMemory { bytes, source });
        }
    };
    offer(mem_total(), "MemTotal");
    offer(cgroup_limit(), "the cgroup's memory limit");
    offer(address_space_limit(), "RLIMIT_AS");
    best.unwrap_or(MachineMemory {
        bytes: FALLBACK_MEMORY,
        source: "assumed: the machine's memory could not be read",
    })
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn mem_total() -> Option<u64> {
    let info = read("/proc/meminfo")?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The "Max address space" soft limit of `/proc/self/limits` (`unlimited`: none).
fn address_space_limit() -> Option<u64> {
    let limits = read("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The smallest memory limit of the process's cgroup and its ancestors (v1 and v2);
/// "no limit" values (`max`, or v1's huge page-rounded `i64::MAX`) count as none.
fn cgroup_limit() -> Option<u64> {
    let groups = read("/proc/self/cgroup")?;
    let mut limit: Option<u64> = None;
    for line in groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (root, file) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        // The group, its ancestors, and the mount's root (a container's own view).
        let mut dir = path.trim_end_matches('/').to_string();
        loop {
            if let Some(v) = read(&format!("{root}{dir}/{file}"))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&v| v < 1 << 62)
            {
                limit = Some(limit.map_or(v, |l| l.min(v)));
            }
            match dir.rfind('/') {
                Some(i) => dir.truncate(i),
                None => break,
            }
        }
    }
    limit
}

/// An allocation that the allocator refused, or whose size does not fit in `usize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// The bytes asked for (saturated at `u64::MAX`).
    pub bytes: u64,
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot allocate {}", format_bytes(self.bytes))
    }
}

/// `vec![value; len]`, or an error instead of aborting the process when the allocator
/// refuses (an address-space or cgroup limit, or a size beyond `isize::MAX`).
pub fn try_vec<T: Clone>(len: usize, value: T) -> Result<Vec<T>, AllocError> {
    let mut v = Vec::new();
    try_reserve(&mut v, len)?;
    v.resize(len, value);
    Ok(v)
}

/// `v.reserve(more)`, or an error instead of aborting.
pub fn try_reserve<T>(v: &mut Vec<T>, more: usize) -> Result<(), AllocError> {
    v.try_reserve(more).map_err(|_| AllocError {
        bytes: (v.len() as u128 + more as u128)
            .saturating_mul(std::mem::size_of::<T>() as u128)
            .min(u64::MAX as u128) as u64,
    })
}

/// Parses a size: plain bytes (`1000000`), or a number with a unit `K M G T P E`
/// (decimal: `8G` = 8·10⁹) or `Ki Mi Gi Ti Pi Ei` (binary), optionally followed by `B`;
/// case-insensitive; decimals allowed with a unit (`1.5G`). Zero is refused.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("expected a size such as `512M`, `8G` or a number of bytes, got `{text}`");
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let (letter, binary) = match unit.strip_suffix('i') {
        Some(l) if !l.is_empty() => (l, true),
        _ => (unit, false),
    };
    let power = match letter {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return Err(bad()),
    };
    if power == 0 && number.contains('.') {
        return Err(format!("a number of bytes is whole, got `{text}`"));
    }
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * base.powi(power);
    if bytes < 1.0 {
        return Err(format!("the size must be at least one byte, got `{text}`"));
    }
    if bytes >= u64::MAX as f64 {
        return Err(format!("the size `{text}` is too large"));
    }
    Ok(bytes as u64)
}

/// A byte count for people: `40 PB`, `3.2 GB`, `512 kB`, `17 bytes` (three significant
/// digits at most, decimal units).
pub fn format_bytes(bytes: u64) -> String {
    format_bytes_f64(bytes as f64)
}

/// [`format_bytes`] of an estimate that may exceed `u64`.
pub fn format_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
    if !bytes.is_finite() {
        return "more than any memory".into();
    }
    let mut v = bytes.max(0.0);
    let mut unit = 0;
    while v >= 999.5 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{} bytes", v.round() as u64);
    }
    if unit == UNITS.len() - 1 && v >= 999.5 {
        return format!("{:.3e} bytes", bytes);
    }
    let digits = if v >= 99.95 {
        0
    } else if v >= 9.995 {
        1
    } else {
        2
    };
    let s = format!("{v:.digits$}");
    // `8.00` → `8`, `1.50` → `1.5`.
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {}", UNITS[unit])
}

/// A count that may be astronomically large (an estimate): exact below 10¹², else
/// scientific (`7.29e14`).
pub fn format_count(n: f64) -> String {
    if !n.is_finite() {
        "more than 1e308".into()
    } else if n < 1e12 {
        format!("{}", n.round() as u64)
    } else {
        let e = n.log10().floor() as i32;
        let m = n / 10f64.powi(e);
        let m = format!("{m:.2}");
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}e{e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("512M"), Ok(512_000_000));
        assert_eq!(parse_size("8G"), Ok(8_000_000_000));
        assert_eq!(parse_size("8g"), Ok(8_000_000_000));
        assert_eq!(parse_size("8GB"), Ok(8_000_000_000));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("8Gi"), Ok(8 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1500));
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("123B"), Ok(123));
        assert_eq!(parse_size(" 2 T "), Ok(2_000_000_000_000));
        for bad in [
            "", "G", "-1G", "1.G", ".5G", "12X", "1e9", "8 GiBs", "i", "1iB", "0x10",
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("expected a size"), "{bad}: {e}");
        }
        assert!(parse_size("0").unwrap_err().contains("at least one byte"));
        assert!(
            parse_size("0.0001k")
                .unwrap_err()
                .contains("at least one byte")
        );
        assert!(parse_size("1.5").unwrap_err().contains("whole"));
        assert!(parse_size("100E").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes_print() {
        assert_eq!(format_bytes(0), "0 bytes");
        assert_eq!(format_bytes(17), "17 bytes");
        assert_eq!(format_bytes(999), "999 bytes");
        assert_eq!(format_bytes(1000), "1 kB");
        assert_eq!(format_bytes(1536), "1.54 kB");
        assert_eq!(format_bytes(512_000_000), "512 MB");
        assert_eq!(format_bytes(8_000_000_000), "8 GB");
        assert_eq!(format_bytes(8 << 30), "8.59 GB");
        assert_eq!(format_bytes(18_512_000_000), "18.5 GB");
        assert_eq!(format_bytes(999_600_000), "1 GB");
        // Linear(1e8, 1e8): 10^16 + 10^8 float32 parameters.
        assert_eq!(format_bytes(4 * (10u64.pow(16) + 10u64.pow(8))), "40 PB");
        assert_eq!(format_bytes(u64::MAX), "18.4 EB");
        assert_eq!(format_bytes_f64(4e25), "4.000e25 bytes");
        assert_eq!(format_bytes_f64(f64::INFINITY), "more than any memory");
    }

    #[test]
    fn counts_print() {
        assert_eq!(format_count(0.0), "0");
        assert_eq!(format_count(40_000_000_000.4), "40000000000");
        assert_eq!(format_count(7.29e14), "7.29e14");
        assert_eq!(format_count(1e12), "1e12");
        assert_eq!(format_count(2.43e12), "2.43e12");
    }

    #[test]
    fn refused_allocations_are_errors() {
        assert_eq!(try_vec(3, 1u8), Ok(vec![1, 1, 1]));
        let e = try_vec(usize::MAX / 2, 0u64).unwrap_err();
        assert_eq!(e.bytes, u64::MAX);
        assert!(e.to_string().starts_with("cannot allocate "), "{e}");
    }

    #[test]
    fn machine_memory_is_positive() {
        let m = machine_memory();
        assert!(m.bytes > 0 && m.budget() > 0 && m.budget() < m.bytes);
    }
}
