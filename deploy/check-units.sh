#!/usr/bin/env bash
# check-units.sh -- checks deploy/'s systemd files with systemd's own tools:
# `systemd-analyze verify` on both units (ExecStart pointed at /bin/true,
# since coordd may not be installed), and, as root, systemd-sysusers and
# systemd-tmpfiles applied to a scratch root. Run by `make test` (mk/config.mk).
# Ends with "N passed, N failed"; a tool that is missing is reported and
# skipped, not counted.
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

result() { # name, rc, output
    if [ "$2" -eq 0 ] && [ -z "$3" ]; then
        pass=$((pass + 1))
        echo "ok   $1"
    else
        fail=$((fail + 1))
        echo "FAIL $1"
        printf '%s\n' "$3" | sed 's/^/    /'
    fi
}

if command -v systemd-analyze >/dev/null 2>&1; then
    for u in deploy/systemd/coordd.service deploy/systemd/coordd@.service; do
        sed 's|/usr/local/bin/coordd|/bin/true|' "$u" >"$tmp/$(basename "$u")"
        out=$(systemd-analyze verify "$tmp/$(basename "$u")" 2>&1)
        result "systemd-analyze verify $u" $? "$out"
    done
else
    echo "skip systemd-analyze: not installed"
fi

if [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null &&
    command -v systemd-tmpfiles >/dev/null; then
    root="$tmp/root"
    mkdir -p "$root/etc" "$root/var/lib"
    cp /etc/passwd /etc/group "$root/etc/"
    out=$(systemd-sysusers --root="$root" \
        "$PWD/deploy/sysusers.d/coord.conf" 2>&1 >/dev/null |
        grep -v '^Creating ')
    grep -q '^coord:' "$root/etc/passwd" || out="$out no coord user"
    result "systemd-sysusers deploy/sysusers.d/coord.conf" 0 "$out"
    out=$(systemd-tmpfiles --root="$root" --create \
        "$PWD/deploy/tmpfiles.d/coord.conf" 2>&1)
    rc=$?
    [ "$(stat -c '%a %U' "$root/var/lib/coord" 2>/dev/null)" = "700 coord" ] ||
        [ "$(stat -c '%a' "$root/var/lib/coord" 2>/dev/null)" = 700 ] ||
        out="$out /var/lib/coord not created 0700"
    [ "$(stat -c '%a' "$root/etc/coord" 2>/dev/null)" = 750 ] ||
        out="$out /etc/coord not created 0750"
    result "systemd-tmpfiles deploy/tmpfiles.d/coord.conf" $rc "$out"
else
    echo "skip sysusers/tmpfiles: needs root and systemd's tools"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
