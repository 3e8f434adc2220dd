#!/usr/bin/env bash
# test_install.sh -- checks `make install` end to end (mk/install.mk): installs
# into a scratch DESTDIR with a scratch PREFIX, checks the files and the
# exported symbols of libcoord.so, verifies the installed systemd units,
# starts the installed coordd with the installed unit's ExecStart line (the
# config swapped for one made from the installed example: free ports on
# 127.0.0.1, scratch data dir), drives it with the installed coordctl, and
# builds and runs a C program against the installed libcoord through
# pkg-config, shared and static. Registered as the `install` suite of
# `make test`. Ends with "N passed, N failed". It must not touch anything
# outside its temporary directory, and stops only the coordd it started.
set -u
cd "$(dirname "$0")/../.."
pass=0
fail=0
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { # name, details
    fail=$((fail + 1))
    echo "FAIL $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'
}
check() { # name, command...: passes when the command succeeds
    local name=$1
    shift
    local out
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

dest=$tmp/root
prefix=/opt/coord-install-test
root=$dest$prefix

# ---- make install ----------------------------------------------------------
# Under `make test` everything installed is already built: -o keeps this
# make from rebuilding it while other suites use it (a source edited since
# would otherwise relink coordd mid-run). Run alone, make builds what is
# missing.
keep=()
for f in build/bin/coordd build/bin/coordctl build/pic/libcoord.a \
    build/pic/libcoord.so; do
    [ -e "$f" ] && keep+=(-o "$f")
done
if out=$(make --no-print-directory "${keep[@]}" install DESTDIR="$dest" \
    PREFIX="$prefix" 2>&1); then
    ok "make install DESTDIR=... PREFIX=$prefix"
else
    bad "make install" "$(printf '%s\n' "$out" | tail -20)"
    finish
fi

files="bin/coordd bin/coordctl lib/libcoord.a lib/libcoord.so
include/coord.h include/coord_recipes.h lib/pkgconfig/coord.pc
share/coord/systemd/coordd.service share/coord/systemd/coordd@.service
share/coord/sysusers.d/coord.conf share/coord/tmpfiles.d/coord.conf
share/coord/coordd.conf.example
share/bash-completion/completions/coordctl
share/doc/coord/README.md share/doc/coord/operations.md
share/doc/coord/configuration.md"
missing=
for f in $files; do
    [ -s "$root/$f" ] || missing="$missing $f"
done
for f in bin/coordd bin/coordctl; do
    [ -x "$root/$f" ] || missing="$missing $f(not executable)"
done
if [ -z "$missing" ]; then ok "installed files present"; else
    bad "installed files present" "missing:$missing"
fi

# The shared library exports exactly the COORD_API functions of coord.h and
# coord_recipes.h (the recipes ship in libcoord).
api=$(grep -h -A1 'COORD_API' "$root/include/coord.h" \
    "$root/include/coord_recipes.h" |
    grep -o '\bcoord_[a-z_0-9]*(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$root/lib/libcoord.so" |
    awk '{print $3}' | sort -u)
diff=$(diff <(printf '%s\n' "$api") <(printf '%s\n' "$exported"))
if [ -n "$api" ] && [ -z "$diff" ]; then
    ok "libcoord.so exports exactly the $(printf '%s\n' "$api" |
        wc -l) COORD_API functions"
else
    bad "libcoord.so exports exactly the COORD_API functions" \
        "< only in coord.h, > only exported:
$diff"
fi

# ---- systemd units -----------------------------------------------------------
for u in coordd.service coordd@.service; do
    unit=$root/share/coord/systemd/$u
    exec_line=$(grep '^ExecStart=' "$unit")
    if [[ "$exec_line" == "ExecStart=$prefix/bin/coordd "* ]]; then
        ok "$u: ExecStart names $prefix/bin/coordd"
    else
        bad "$u: ExecStart names $prefix/bin/coordd" "$exec_line"
    fi
    if command -v systemd-analyze >/dev/null 2>&1; then
        # The binary is in DESTDIR, not at PREFIX: point the unit there.
        mkdir -p "$tmp/units"
        sed "s|$prefix/bin/coordd|$root/bin/coordd|" "$unit" \
            >"$tmp/units/$u"
        out=$(systemd-analyze verify "$tmp/units/$u" 2>&1)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$out" ]; then
            ok "systemd-analyze verify installed $u"
        else
            bad "systemd-analyze verify installed $u" "$out"
        fi
    else
        echo "skip systemd-analyze verify $u: not installed"
    fi
done

# ---- the installed coordd, started as the unit starts it ----------------------
free_port() { # a TCP port nobody listens on (re-checked by coordd's bind)
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        ss -Htln "sport = :$p" 2>/dev/null | grep -q . || break
    done
    echo "$p"
}

coordctl=$root/bin/coordctl
exec_line=$(grep '^ExecStart=' "$root/share/coord/systemd/coordd.service")
cmd=${exec_line#ExecStart=}
cport=
started=0
for attempt in 1 2 3; do
    cport=$(free_port)
    pport=$(free_port)
    [ "$pport" = "$cport" ] && continue
    rm -rf "$tmp/data" "$tmp/work"
    mkdir -p "$tmp/work"
    sed -e "s|^#data_dir = .*|data_dir = $tmp/data|" \
        -e "s|^#client_listen = .*|client_listen = 127.0.0.1:$cport|" \
        -e "s|^#peer_listen = .*|peer_listen = 127.0.0.1:$pport|" \
        "$root/share/coord/coordd.conf.example" >"$tmp/coordd.conf"
    # ExecStart with the binary taken from DESTDIR and our config.
    run=${cmd//$prefix\/bin\/coordd/$root/bin/coordd}
    run=${run//\/etc\/coord\/coordd.conf/$tmp/coordd.conf}
    read -r -a argv <<<"$run"
    (cd "$tmp/work" && exec "${argv[@]}") >"$tmp/coordd.log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null; do
        if "$coordctl" --servers="127.0.0.1:$cport" --timeout=500 \
            stat / >/dev/null 2>&1; then
            started=1
            break
        fi
        sleep 0.05 # poll interval; the deadline bounds the wait
    done
    [ $started -eq 1 ] && break
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
done
if [ $started -eq 1 ]; then
    ok "installed coordd started with the unit's ExecStart serves"
else
    bad "installed coordd started with the unit's ExecStart serves" \
        "$(tail -20 "$tmp/coordd.log" 2>/dev/null)"
    finish
fi
grep -q "data_dir = $tmp/data" "$tmp/coordd.conf" && [ -d "$tmp/data" ] &&
    ok "coordd uses the data dir of the generated config" ||
    bad "coordd uses the data dir of the generated config"

servers=127.0.0.1:$cport
check "installed coordctl create" \
    "$coordctl" --servers="$servers" create /install-test hello-install
out=$("$coordctl" --servers="$servers" get /install-test 2>&1)
if [ "$out" = hello-install ]; then ok "installed coordctl get"; else
    bad "installed coordctl get" "got: $out"
fi

# ---- a program built against the installed libcoord ---------------------------
cat >"$tmp/prog.c" <<'EOF'
/* prog.c -- creates a node through libcoord, reads it back, and takes and
 * releases a lock with the recipes shipped in the same library. */
#include <coord.h>
#include <coord_recipes.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct coord_options o;
    struct coord_client *c;
    void *v = NULL;
    size_t len = 0;
    int rc;

    if (argc != 3)
        return 2;
    coord_options_init(&o);
    o.servers = argv[1];
    rc = coord_open(&c, &o);
    if (rc != 0) {
        fprintf(stderr, "open: %s\n", coord_strerror(rc));
        return 1;
    }
    rc = coord_create(c, argv[2], "from-c", 6, COORD_PERSISTENT, 0,
                      NULL, NULL);
    if (rc == 0)
        rc = coord_get(c, argv[2], 0, NULL, &v, &len, NULL);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", argv[2], coord_errname(rc));
    else if (len != 6 || memcmp(v, "from-c", 6) != 0)
        rc = -1;
    if (rc == 0) {
        struct coord_lock *l = NULL;
        uint64_t token = 0;
        rc = coord_lock_new(&l, c, "/install-lock");
        if (rc == 0)
            rc = coord_lock_acquire(l, 5000, &token);
        if (rc == 0 && token == 0)
            rc = -1;
        if (rc == 0)
            rc = coord_lock_release(l);
        if (rc != 0)
            fprintf(stderr, "lock: %d\n", rc);
        coord_lock_free(l);
    }
    coord_free_mem(v);
    coord_close(c);
    if (rc == 0)
        printf("ok %s\n", argv[2]);
    return rc == 0 ? 0 : 1;
}
EOF
# coord.pc names PREFIX, but the files are under DESTDIR: use a copy of
# the installed coord.pc with its prefix moved there (only coord's: a
# --define-variable=prefix would move libsodium's too).
mkdir -p "$tmp/pc"
sed "s|^prefix=$prefix\$|prefix=$root|" "$root/lib/pkgconfig/coord.pc" \
    >"$tmp/pc/coord.pc"
pkgconf() { PKG_CONFIG_PATH=$tmp/pc pkg-config "$@"; }
export PKG_CONFIG_PATH=$root/lib/pkgconfig
out=$(pkg-config --variable=prefix coord 2>&1)
if [ "$out" = "$prefix" ]; then ok "coord.pc has prefix=$prefix"; else
    bad "coord.pc has prefix=$prefix" "$out"
fi
cc=${CC:-cc}
if pc=$(pkgconf --cflags --libs coord 2>&1) &&
    out=$($cc -std=c11 -Wall -Werror -o "$tmp/prog" "$tmp/prog.c" $pc 2>&1); then
    ok "C program builds with pkg-config --cflags --libs coord ($pc)"
    out=$(LD_LIBRARY_PATH=$root/lib "$tmp/prog" "$servers" /from-c-shared 2>&1)
    if [ "$out" = "ok /from-c-shared" ] &&
        LD_LIBRARY_PATH=$root/lib ldd "$tmp/prog" 2>/dev/null | grep -q "$root/lib/libcoord.so"; then
        ok "C program against installed libcoord.so: create/get"
    else
        bad "C program against installed libcoord.so: create/get" \
            "$out $(LD_LIBRARY_PATH=$root/lib ldd "$tmp/prog" 2>&1)"
    fi
else
    bad "C program builds with pkg-config --cflags --libs coord" "$pc $out"
fi

# Static: the archive itself, then what pkg-config --static adds for it.
if pcs=$(pkgconf --static --libs coord 2>&1) &&
    out=$($cc -std=c11 -Wall -Werror -o "$tmp/prog-static" "$tmp/prog.c" \
        $(pkgconf --cflags coord) "$root/lib/libcoord.a" $pcs 2>&1); then
    ok "C program links libcoord.a with pkg-config --static ($pcs)"
    out=$("$tmp/prog-static" "$servers" /from-c-static 2>&1)
    if [ "$out" = "ok /from-c-static" ]; then
        ok "C program against installed libcoord.a: create/get"
    else
        bad "C program against installed libcoord.a: create/get" "$out"
    fi
else
    bad "C program links libcoord.a with pkg-config --static" "$pcs $out"
fi

out=$("$coordctl" --servers="$servers" ls / 2>&1)
if printf '%s\n' "$out" | grep -qx from-c-shared &&
    printf '%s\n' "$out" | grep -qx from-c-static; then
    ok "coordctl sees the nodes the C programs made"
else
    bad "coordctl sees the nodes the C programs made" "$out"
fi

# ---- clean stop ----------------------------------------------------------------
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -eq 0 ]; then ok "coordd exits 0 on SIGTERM"; else
    bad "coordd exits 0 on SIGTERM" "rc $rc; $(tail -5 "$tmp/coordd.log")"
fi
finish
