# d2l-tui auto-stop: install the agent, its timer and its setting (part of the instance's user data,
# run as root by cloud-init; also run over SSH with sudo on an instance launched without it).
# D2L_AUTOSTOP_ROOT puts every file under another root (the tests); empty on an instance.
d2l_root="${D2L_AUTOSTOP_ROOT:-}"
mkdir -p "$d2l_root/opt/d2l-tui/autostop" "$d2l_root/etc/d2l-autostop" "$d2l_root/var/lib/d2l-autostop" \
  "$d2l_root/etc/systemd/system"
base64 -d <<'D2L_AGENT' | gunzip >"$d2l_root/opt/d2l-tui/autostop/agent.py"
@AGENT@
D2L_AGENT
cat >"$d2l_root/etc/systemd/system/d2l-autostop.service" <<'D2L_SERVICE'
@SERVICE@
D2L_SERVICE
cat >"$d2l_root/etc/systemd/system/d2l-autostop.timer" <<'D2L_TIMER'
@TIMER@
D2L_TIMER
# The setting (the app changes it later over SSH, through the same file).
printf '%s\n' '@CONFIG@' >"$d2l_root/etc/d2l-autostop/config.json"
chmod 0755 "$d2l_root/opt/d2l-tui/autostop/agent.py"
chmod 0644 "$d2l_root/etc/d2l-autostop/config.json"
systemctl daemon-reload
systemctl enable --now d2l-autostop.timer
