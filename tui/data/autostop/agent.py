#!/usr/bin/env python3
"""d2l-tui's idle auto-stop agent: one check, run by a systemd timer every minute, as root.

Standard library only (python3 3.6+, as Ubuntu and the Deep Learning AMIs ship it): JSON, the
Jupyter REST API and /proc are plain work here, and one short process a minute stays under 50 ms
of CPU. Python rather than sh because a kernel's last_activity, utmp-like /proc walks and an
atomic state file are each a few lines here and a page of awk there.

The machine is idle when ALL of these hold, and stops once it has been idle for `idle_minutes`:
  - no GPU busier than `gpu_percent` (nvidia-smi; a GPU that answers [N/A], as under MIG, is skipped:
    a kernel holding GPU memory but computing nothing must not keep a $22/h machine up);
  - no Jupyter kernel executing (or starting: for at most STARTING_MINUTES, as one can read
    "starting" forever), and the idle clock starts at the last kernel activity (the server's own
    /api/kernels on loopback, token from its runtime file);
  - no interactive SSH login (a session leader on a pseudo-terminal under sshd; the app's GPU stream
    and tunnel have no terminal). A terminal nobody typed in for `idle_minutes` (a laptop asleep with
    its ssh still open) stops counting;
  - no setup or benchmark run in progress (d2l-tui's runner holds its lock, or wrote "running"/"rebooting" lately);
  - CPU below `cpu_cores` cores busy, on average since the last check (/proc/stat).
`max_hours` (optional) stops the machine that long after it booted, busy or not. Either way a
warning goes out (`wall` and the status file) `warn_minutes` before, and the stop is
`shutdown -h now` (the launch sets InstanceInitiatedShutdownBehavior=stop: no AWS credentials here).

Files (each overridable through the environment, so tests run this as an ordinary process):
  D2L_AUTOSTOP_CONFIG     /etc/d2l-autostop/config.json   the setting (the app writes it over SSH)
  D2L_AUTOSTOP_STATE_DIR  /var/lib/d2l-autostop           state.json (kept across reboots),
                                                          status.json (what the app reads), lock
  D2L_AUTOSTOP_JUPYTER    /home/*/.local/share/jupyter/runtime:/root/.local/share/jupyter/runtime
  D2L_AUTOSTOP_SETUP      /home/*/.d2l-tui/provision:/root/.d2l-tui/provision (and .../bench)
  D2L_AUTOSTOP_BOOT_ID_FILE, D2L_AUTOSTOP_UPTIME_FILE    /proc/sys/kernel/random/boot_id, /proc/uptime
  D2L_AUTOSTOP_SSHD_PID   only logins under this sshd count (tests; unset: any sshd)
  D2L_AUTOSTOP_MINUTE_S   seconds in a "minute" (60; the demo and tests make minutes seconds)
  D2L_AUTOSTOP_CLOCK_FILE seconds to add to the clock, read at each check (tests: their "minutes"
                          pass at once instead of being slept through; unset: the clock as it is)
"""

import fcntl
import json
import os
import sys
import time

ENV = os.environ.get
MINUTE = float(ENV("D2L_AUTOSTOP_MINUTE_S") or 60)
CONFIG = ENV("D2L_AUTOSTOP_CONFIG") or "/etc/d2l-autostop/config.json"
STATE_DIR = ENV("D2L_AUTOSTOP_STATE_DIR") or "/var/lib/d2l-autostop"
JUPYTER = (
    ENV("D2L_AUTOSTOP_JUPYTER") or "/home/*/.local/share/jupyter/runtime:/root/.local/share/jupyter/runtime"
)
# The runner's folders: the setup's, and the benchmark's (the same runner; its data download and
# warm-up leave the GPU quiet for a while, yet the run is work the user is waiting for).
SETUP = ENV("D2L_AUTOSTOP_SETUP") or (
    "/home/*/.d2l-tui/provision:/root/.d2l-tui/provision:/home/*/.d2l-tui/bench:/root/.d2l-tui/bench"
)
BOOT_ID = ENV("D2L_AUTOSTOP_BOOT_ID_FILE") or "/proc/sys/kernel/random/boot_id"
UPTIME = ENV("D2L_AUTOSTOP_UPTIME_FILE") or "/proc/uptime"
SSHD_PID = int(ENV("D2L_AUTOSTOP_SSHD_PID") or 0)
CLOCK_FILE = ENV("D2L_AUTOSTOP_CLOCK_FILE")

# Why these defaults: 30 minutes covers reading a section or a coffee between cells without a
# surprise stop, and bounds a forgotten p4d.24xlarge at about $11. An idle GPU with a model loaded
# reads 0%, training 30-100%: 10% tells them apart. Half a core busy is a one-thread data job;
# the system's own daemons use a few hundredths of one.
# A kernel starts in seconds. Jupyter says "starting" until the kernel's next message when it missed
# the first "idle" (seen in tests: a kernel that announced itself before the server listened), so a
# notebook opened and left could read "starting" forever and keep the machine, and its bill, up:
# past this long since its last activity, "starting" is idle since then.
STARTING_MINUTES = 5

DEFAULTS = {
    "idle_minutes": 30,  # 0: no idle stop
    "max_hours": 0,  # 0: no cap
    "warn_minutes": 5,
    "gpu_percent": 10,
    "cpu_cores": 0.5,
    "on_shutdown": "stop",  # what a shutdown does to this instance: "stop", or "terminate" (one-time spot)
}


def log(message):
    print("d2l-autostop: " + message, flush=True)  # stdout is the journal under systemd


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def load_json(path):
    try:
        value = json.loads(read(path, "{}"))
    except ValueError:
        log("ignoring %s: not JSON" % path)
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path, value, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def config():
    conf = dict(DEFAULTS)
    for key, value in load_json(CONFIG).items():
        if key not in DEFAULTS:
            continue
        if key == "on_shutdown":
            if value in ("stop", "terminate"):
                conf[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100000:
            conf[key] = value
        else:
            log("ignoring %s=%r in %s" % (key, value, CONFIG))
    return conf


def run(argv, timeout=20):
    """argv's output (stderr dropped); None when it can't start, fails or takes longer than timeout.
    fork/exec by hand: the subprocess module's imports alone cost more CPU than a whole check."""
    import select

    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: stdout to the pipe, nothing else open
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(w, 1)
            os.dup2(null, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    out, deadline, timed_out = [], time.time() + timeout, False  # type: list[bytes], float, bool
    while True:
        left = deadline - time.time()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            os.kill(pid, 9)
            timed_out = True
            break
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out.append(chunk)
    os.close(r)
    status = os.waitpid(pid, 0)[1]
    return b"".join(out).decode("utf-8", "replace") if not timed_out and status == 0 else None


def matches(name, pattern):
    """Shell-style match with '*' only (glob and fnmatch cost ~10 ms of imports a minute)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return name == pattern
    if not (name.startswith(parts[0]) and name.endswith(parts[-1])) or len(name) < len(parts[0]) + len(
        parts[-1]
    ):
        return False
    at = len(parts[0])
    for middle in parts[1:-1]:
        at = name.find(middle, at)
        if at < 0:
            return False
        at += len(middle)
    return at <= len(name) - len(parts[-1])


def paths(spec, pattern):
    """Every existing path matching one of the ':'-separated patterns joined with `pattern`."""
    found = []
    for root in spec.split(":"):
        here = ["/"] if root.startswith("/") else [""]
        for part in [p for p in os.path.join(root, pattern).split("/") if p]:
            if "*" not in part:
                here = [os.path.join(h, part) for h in here]
                continue
            here = [os.path.join(h, n) for h in here if os.path.isdir(h or ".") for n in sorted(os.listdir(h or "."))
                    if matches(n, part) and not n.startswith(".")]  # fmt: skip
        found += [h for h in here if os.path.exists(h)]
    return sorted(set(found))


# --- the signals: each returns [(when it was last active, why)] -------------------------------------


def gpu_signals(conf, now):
    out = run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"])
    if out is None:
        return []  # no GPU driver (yet), or it failed: nothing to measure
    busiest = max((int(v) for v in out.split() if v.isdigit()), default=-1)
    return [(now, "GPU %d%%" % busiest)] if busiest > conf["gpu_percent"] else []


def http_get_json(port, path, token):
    import socket  # only when a Jupyter runs: a few ms saved every other minute

    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.settimeout(3)
        s.sendall(
            (
                "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nAuthorization: token %s\r\n\r\n"
                % (path, port, token)
            ).encode()
        )
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise OSError(head.split(b"\r\n", 1)[0].decode("latin-1"))
    return json.loads(body.decode())


def iso_epoch(text):
    """'2024-05-01T12:00:00.123456Z' (or +00:00) -> seconds since the epoch; None when not that."""
    import calendar

    try:
        whole = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except (TypeError, ValueError):
        return None
    return calendar.timegm(whole)


def jupyter_signals(conf, now):
    found = []
    for info_path in paths(JUPYTER, "*server-*.json"):  # jpserver- (Server 2), nbserver- (Notebook 6)
        info = load_json(info_path)
        try:
            os.kill(int(info["pid"]), 0)
            kernels = http_get_json(
                int(info["port"]), (info.get("base_url") or "/") + "api/kernels", info["token"]
            )
        except (KeyError, ValueError, TypeError, ProcessLookupError):
            continue  # a runtime file left by a server that is gone
        except OSError as exc:
            log("Jupyter on port %s did not answer (%s)" % (info.get("port"), exc))
            continue
        for kernel in kernels if isinstance(kernels, list) else []:
            state = kernel.get("execution_state")
            last = iso_epoch(kernel.get("last_activity"))
            if state == "busy" or (
                state == "starting" and (last is None or now - last < STARTING_MINUTES * MINUTE)
            ):
                found.append((now, "kernel busy"))
            elif last is not None:
                found.append((min(last, now), "kernel ran"))
    return found


def proc_stat(pid):
    """(comm, ppid, session, tty_nr) of a process, or None once it is gone."""
    text = read("/proc/%s/stat" % pid)
    if ")" not in text:
        return None
    comm = text[text.find("(") + 1 : text.rfind(")")]
    rest = text[text.rfind(")") + 2 :].split()
    return comm, int(rest[1]), int(rest[3]), int(rest[4])


def login_signals(conf, now):
    """Interactive SSH logins: session leaders on a pseudo-terminal whose parent is sshd."""
    found = []
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(name)
            if st:
                stats[int(name)] = st
    for pid, (_comm, ppid, session, tty) in stats.items():
        major = (tty >> 8) & 0xFFF
        if pid != session or not 136 <= major <= 143 or not stats.get(ppid, ("",))[0].startswith("sshd"):
            continue
        if SSHD_PID and not under(pid, SSHD_PID, stats):
            continue
        pts = "/dev/pts/%d" % ((major - 136) * 256 + ((tty & 0xFF) | ((tty >> 12) & 0xFFF00)))
        try:
            typed = os.stat(pts).st_atime  # the terminal's last input, as `w` shows it
        except OSError:
            continue
        if now - typed < conf["idle_minutes"] * MINUTE:
            found.append((now, "ssh login"))
    return found


def under(pid, ancestor, stats):
    for _ in range(64):
        if pid == ancestor:
            return True
        if pid not in stats:
            return False
        pid = stats[pid][1]
    return False


def setup_signals(conf, now):
    """d2l-tui's setup runner (tui/data/runner.sh): its lock is held while it runs."""
    locked = set()
    for line in read("/proc/locks").splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK":
            locked.add(fields[5])  # MAJOR:MINOR:INODE
    for run_dir in paths(SETUP, ""):
        try:
            st = os.stat(os.path.join(run_dir, "lock"))
            key = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
        except OSError:
            key = None
        status = os.path.join(run_dir, "status")
        recent = os.path.exists(status) and now - os.path.getmtime(status) < conf["idle_minutes"] * MINUTE
        if key in locked or (recent and read(status).split()[:1] in (["running"], ["rebooting"])):
            what = "benchmark" if os.path.basename(run_dir.rstrip("/")) == "bench" else "setup"
            return [(now, what + " running")]
    return []


def cpu_sample():
    fields = read("/proc/stat").split("\n", 1)[0].split()[1:]
    ticks = [int(v) for v in fields]
    return sum(ticks), ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # total, idle + iowait


def cpu_signals(conf, now, state):
    total, idle = cpu_sample()
    before = state.get("cpu")
    state["cpu"] = [total, idle]
    if not before or total <= before[0]:
        return []
    cores = (1 - (idle - before[1]) / float(total - before[0])) * (os.cpu_count() or 1)
    return [(now, "CPU %.1f cores" % cores)] if cores > conf["cpu_cores"] else []


# --- the decision ------------------------------------------------------------------------------------


def minutes(seconds):
    return int(seconds // MINUTE)


def check(now):
    conf = config()
    state = load_json(os.path.join(STATE_DIR, "state.json"))
    boot_id = read(BOOT_ID).strip()
    booted_at = now - float((read(UPTIME) or "0").split()[0])
    if state.get("boot_id") != boot_id:
        # A boot is a start (or a reboot): the idle clock and any warning start over; the record of
        # how the last boot ended is kept for the app to show.
        state = {"boot_id": boot_id, "last_stop": state.get("last_stop"), "last_active": now}
    idle_s = conf["idle_minutes"] * MINUTE
    warn_s = conf["warn_minutes"] * MINUTE
    signals = []
    if idle_s:  # with the idle stop off only the cap counts: nothing to look at
        for probe in (gpu_signals, jupyter_signals, login_signals, setup_signals):
            signals += probe(conf, now)
        signals += cpu_signals(conf, now, state)
    last_active = max([state.get("last_active", now)] + [when for when, _ in signals])
    state["last_active"] = last_active
    recent = sorted({why for when, why in signals if now - when < MINUTE})
    idle_for = max(0.0, now - last_active)
    cap_at = booted_at + conf["max_hours"] * 60 * MINUTE if conf["max_hours"] else None

    stops = []  # (when, why) it would stop if nothing happens meanwhile
    due = []  # those whose warning time has come (an idle stop's only while nothing is going on)
    if idle_s:
        stops.append((last_active + idle_s, "idle %g min" % conf["idle_minutes"]))
        if not recent and now >= last_active + idle_s - warn_s:
            due.append(stops[-1])
    if cap_at:
        stops.append((cap_at, "cap %g h" % conf["max_hours"]))
        if now >= cap_at - warn_s:
            due.append(stops[-1])
    stop_at, why = min(stops) if stops else (None, "")

    status = {
        "version": 1,
        "checked_at": now,
        "minute_s": MINUTE,
        "idle_minutes": minutes(idle_for) if idle_s else None,
        "idle_of_minutes": conf["idle_minutes"],
        "max_hours": conf["max_hours"],
        "warn_minutes": conf["warn_minutes"],
        "on_shutdown": conf["on_shutdown"],
        "booted_at": booted_at,
        "cap_at": cap_at,
        "reasons": recent,
        "reason": ", ".join(recent),
        "stop_at": None,
        "stop_why": "",
        "last_stop": state.get("last_stop"),
    }
    if stop_at is None:
        status["state"] = "off"
        state.pop("warned_at", None)
    elif not due:
        status["state"] = "busy" if recent else ("idle" if idle_s else "capped")
        if state.pop("warned_at", None):
            wall(
                "d2l-tui auto-stop: cancelled, this machine is in use again (%s)."
                % (status["reason"] or "activity")
            )
        if not recent:
            status.update(stop_at=stop_at, stop_why=why)
        elif cap_at:
            status.update(stop_at=cap_at, stop_why="cap %g h" % conf["max_hours"])
    else:
        stop_at, why = min(due)
        warned_at = state.setdefault("warned_at", now)
        stop_at = max(stop_at, warned_at + warn_s)  # never without the full warning first
        status.update(state="warning", stop_at=stop_at, stop_why=why)
        verb = "terminates" if conf["on_shutdown"] == "terminate" else "stops"
        if warned_at == now:
            at = time.strftime("%H:%M %Z", time.localtime(stop_at))
            wall(
                "d2l-tui auto-stop: this machine %s at %s (%s). Save your work; to keep it running, "
                "change the setting: d2l-tui autostop NAME 60m|off" % (verb, at, why)
            )
        if now >= stop_at:
            status["state"] = "stopping"
            state["last_stop"] = status["last_stop"] = {"at": now, "why": why}
    log("%s%s, idle %d of %s min%s" % (
        status["state"], " (%s)" % status["reason"] if status["reason"] else "", minutes(idle_for),
        conf["idle_minutes"] or "-", ", stops at %s (%s)" % (
            time.strftime("%H:%M:%S", time.localtime(status["stop_at"])), status["stop_why"]
        ) if status["stop_at"] else "",
    ))  # fmt: skip
    write_json(os.path.join(STATE_DIR, "state.json"), state, 0o600)
    write_json(os.path.join(STATE_DIR, "status.json"), status)
    if status["state"] == "stopping":
        log("shutting down: %s" % why)
        if run(["shutdown", "-h", "now", "d2l-tui auto-stop: " + why], timeout=60) is None:
            log("shutdown failed: the next check tries again")
    return status


def wall(message):
    if run(["wall", message], timeout=10) is None:
        log("wall failed: " + message)


def main():
    os.makedirs(STATE_DIR, exist_ok=True)
    lock = open(os.path.join(STATE_DIR, "lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log("another check is running")
        return 0
    check(time.time() + (float(read(CLOCK_FILE, "0").strip() or 0) if CLOCK_FILE else 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
