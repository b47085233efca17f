# Shared by bench/run.sh and bench/ablate.sh (sourced): quiet-machine checks and one timed
# run, the same accounting as ../shared/bench/run.sh so that results read alike.
# Needs: OUT (results folder), WAIT_QUIET (seconds), RETRY_NOISY (count).

# CPU accounting from /proc/stat: "busy_jiffies total_jiffies" over all CPUs
cpu_jiffies() {
    awk '/^cpu /{t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit}' /proc/stat
}
# busy % of all CPUs over 0.5 s (nothing of ours runs meanwhile)
cpu_busy() {
    local a b
    a=$(cpu_jiffies); sleep 0.5; b=$(cpu_jiffies)
    awk -v a="$a" -v b="$b" 'BEGIN{split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; printf "%d", (t > 0 ? 100 * (y[1] - x[1]) / t : 0)}'
}
# wait (at most WAIT_QUIET seconds) until the CPUs are idle
wait_quiet() {
    local waited=0 busy
    [ "$WAIT_QUIET" -gt 0 ] || return 0
    while busy=$(cpu_busy); [ "$busy" -gt 10 ] && [ "$waited" -lt "$WAIT_QUIET" ]; do
        [ "$waited" -eq 0 ] && echo "  (CPUs $busy % busy: waiting up to ${WAIT_QUIET}s for them to go idle)"
        sleep 4.5; waited=$((waited + 5))
    done
}

HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

# run_one NAME command... -> $OUT/NAME.out / .err / .time:
#   "wall_s max_rss_kb rc busy_before_% other_during_%"
run_one() {
    local name="$1"; shift
    local rc busy j0 j1 tv
    wait_quiet
    busy=$(cpu_busy)
    j0=$(cpu_jiffies)
    /usr/bin/time -f "%e %M %U %S" -o "$OUT/$name.tv" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
    rc=$?
    j1=$(cpu_jiffies)
    tv=$(tail -n 1 "$OUT/$name.tv")
    rm -f "$OUT/$name.tv"
    awk -v tv="$tv" -v rc="$rc" -v busy="$busy" -v a="$j0" -v b="$j1" -v hz="$HZ" 'BEGIN{
        split(tv, v, " "); split(a, x, " "); split(b, y, " ")
        total = y[2] - x[2]; other = (y[1] - x[1]) - (v[3] + v[4]) * hz
        pct = (total > 0 ? 100 * other / total : 0); if (pct < 0) pct = 0
        printf "%s %s %s %s %d\n", v[1], v[2], rc, busy, pct}' >"$OUT/$name.time"
    return $rc
}

noisy() {  # did another process use the CPUs before or during this run?
    awk '{exit !($4 > 10 || ($1 >= 1 && $5 > 10))}' "$OUT/$1.time"
}
report() {
    awk '{printf "%s s wall; CPUs busy before %s %%, other processes during %s %%", $1, $4, $5}' "$OUT/$1.time"
}
# timed NAME command... : one repetition, retried up to RETRY_NOISY times when another
# process shared the CPUs (the last attempt is kept)
timed() {
    local name="$1" st try=0
    shift
    while :; do
        if run_one "$name" "$@"; then st=ok; else st="FAILED (see $OUT/$name.err)"; fi
        echo "[$name] $st $(report "$name")"
        if noisy "$name" && [ "$try" -lt "$RETRY_NOISY" ]; then
            try=$((try + 1)); echo "[$name] not quiet, retry $try of $RETRY_NOISY"
        else
            break
        fi
    done
}

header() {  # machine, load, versions, commit -> stdout
    echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(nproc) cores, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nrp: $NRP; commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet -- crates 2>/dev/null || echo ' (crates/ dirty)')"
}
