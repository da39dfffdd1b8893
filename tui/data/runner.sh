#!/usr/bin/env bash
# d2l-tui's step runner, run detached on the instance (setsid nohup) so that it outlives the SSH
# connection and the app. Everything it knows is in files next to it, so a later runner (after a
# reboot, a retry or an app restart) picks up where the last one stopped:
#   plan.tsv            one step per line: name, state key, timeout (s), retries, reboot (0|1),
#                       then the title and hint the app shows
#   steps/NAME.sh       the step's script; steps/NAME.check.sh: exit 0 = already done (skip it)
#   env.sh              variables every step sees (D2L_FRAMEWORK, ...)
#   log                 append-only: the steps' output and the runner's record lines the app parses
#   runs                one line per run: the log's size when it started, and that run's record key
#   state/KEY           a finished step ("done" or "skipped"); KEY changes when its script does
#   status              running | done | failed NAME | rebooting BOOT_ID
#   run-offset          the log's size when the latest run started (where a reattach reads from)
#   lock                held (flock) while a runner is alive: at most one at a time
#   runner.pid          the latest runner (a session leader: setsid), for stopping a run
# Record lines: "::d2l:: KEY EPOCH EVENT [STEP] [ARG]" with EVENT one of run-start, step-already,
# step-check, step-skip, step-start, step-end, step-retry, reboot, run-end. KEY is a random secret of
# this run, never exported: a step that prints a record-shaped line (or replays an old log) has no
# key for it, so the app shows that line as output instead of taking it for the runner's word.
set -u

R="$(cd "$(dirname "$0")" && pwd)"
LOG="$R/log"
BOOT_ID_FILE="${D2L_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}"

exec 9>"$R/lock"
if ! flock -n 9; then
    echo "d2l-tui: a run is already in progress here" >&2
    exit 75
fi
echo "$$" >"$R/runner.pid"  # its process group is the whole run: `kill -- -PID` stops it
# A run that a reboot interrupted is resumed by cron at boot; this one takes over from it.
if command -v crontab >/dev/null 2>&1 && crontab -l 2>/dev/null | grep -qF "$R/runner.sh"; then
    crontab -l 2>/dev/null | grep -vF "$R/runner.sh" | crontab -
fi

mark() {
    printf '::d2l:: %s %s %s\n' "$record_key" "$(date +%s.%N | cut -c1-14)" "$*" >>"$LOG"
}

# Step output that doesn't end in a newline must not swallow the next marker line.
end_line() {
    if [ -s "$LOG" ] && [ -n "$(tail -c1 "$LOG")" ]; then
        printf '\n' >>"$LOG"
    fi
}

finish() {
    end_line
    mark run-end "$1"
    exit "$1"
}

touch "$LOG"
mkdir -p "$R/state"
# shellcheck source=/dev/null
[ -f "$R/env.sh" ] && . "$R/env.sh"
# After env.sh, so a recipe variable of the same name can't set it; unset first, so it isn't exported.
unset record_key
record_key="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
offset="$(stat -c %s "$LOG")"
# The key is in `runs` before the first record that carries it (the app looks there when it meets one).
(umask 077 && printf '%s %s\n' "$offset" "$record_key" >>"$R/runs")
echo "$offset" >"$R/run-offset"
echo running >"$R/status"
export D2L_REBOOT_FLAG="$R/reboot-flag"
mark run-start

while IFS=$'\t' read -r name key timeout retries reboot _ <&3; do
    [ -n "$name" ] || continue
    if [ -f "$R/state/$key" ]; then
        mark step-already "$name" "$(cat "$R/state/$key")"
        continue
    fi
    if [ -f "$R/steps/$name.check.sh" ]; then
        mark step-check "$name"
        if (cd "$HOME" && bash "$R/steps/$name.check.sh") >>"$LOG" 2>&1 </dev/null; then
            end_line
            echo skipped >"$R/state/$key"
            mark step-skip "$name"
            continue
        fi
        end_line
    fi
    attempt=0
    while :; do
        mark step-start "$name"
        rm -f "$D2L_REBOOT_FLAG"
        (cd "$HOME" && timeout --kill-after=30 "$timeout" bash -euo pipefail "$R/steps/$name.sh") \
            >>"$LOG" 2>&1 </dev/null
        rc=$?
        end_line
        if [ "$rc" -eq 124 ]; then
            echo "d2l-tui: step '$name' timed out after ${timeout}s" >>"$LOG"
        fi
        mark step-end "$name" "$rc"
        [ "$rc" -eq 0 ] && break
        attempt=$((attempt + 1))
        [ "$attempt" -le "$retries" ] || break
        mark step-retry "$name" "$attempt"
        sleep "${D2L_RETRY_PAUSE:-5}"
    done
    if [ "$rc" -ne 0 ]; then
        echo "failed $name" >"$R/status"
        finish "$rc"
    fi
    echo "done" >"$R/state/$key"
    if [ "$reboot" = 1 ] && [ -f "$D2L_REBOOT_FLAG" ]; then
        rm -f "$D2L_REBOOT_FLAG"
        echo "rebooting $(cat "$BOOT_ID_FILE")" >"$R/status"
        if command -v crontab >/dev/null 2>&1; then
            { crontab -l 2>/dev/null; echo "@reboot setsid nohup bash $R/runner.sh >/dev/null 2>&1 </dev/null"; } | crontab -
        fi
        mark reboot "$name"
        ${D2L_REBOOT_COMMAND:-sudo systemctl reboot}
        exit 0
    fi
done 3<"$R/plan.tsv"

echo "done" >"$R/status"
finish 0
