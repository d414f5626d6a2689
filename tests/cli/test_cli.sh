#!/usr/bin/env bash
# The programs' common surface: --help/--version, every command's --help,
# usage errors exit 2, the configuration reference matches
# deploy/tokenmill.example.ini, config errors name file, line and key, and
# cmake --install installs both programs.
set -euo pipefail
: "${TOKENMILL:?}" "${TOKENMILL_TRAIN:?}" "${TM_SOURCE_DIR:?}" "${TM_BUILD_DIR:?}"
work=$(mktemp -d /tmp/tm_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); }
expect_rc() { # expect_rc CODE cmd...
  local want=$1; shift
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(head -c 300 "$work/err")"
  ok
}

for prog in "$TOKENMILL" "$TOKENMILL_TRAIN"; do
  expect_rc 0 "$prog" --help
  grep -q "usage:" "$work/out" || fail "$prog --help prints no usage"
  expect_rc 0 "$prog" --version
  grep -qE "^tokenmill(-train)? [0-9]+\.[0-9]+\.[0-9]+$" "$work/out" || fail "$prog --version: $(cat "$work/out")"
  expect_rc 2 "$prog"
  expect_rc 2 "$prog" no-such-command
  expect_rc 2 "$prog" --no-such-flag
  # every listed command answers --help with exit 0
  "$prog" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}' > "$work/cmds"
  [ -s "$work/cmds" ] || fail "$prog lists no commands"
  while read -r c; do
    expect_rc 0 "$prog" "$c" --help
  done < "$work/cmds"
done

# configuration reference == the committed example file
"$TOKENMILL" config --reference > "$work/ref.ini"
diff -u "$TM_SOURCE_DIR/deploy/tokenmill.example.ini" "$work/ref.ini" \
  || fail "deploy/tokenmill.example.ini is stale: regenerate it with 'tokenmill config --reference > deploy/tokenmill.example.ini'"
ok
expect_rc 0 "$TOKENMILL" config --check "$TM_SOURCE_DIR/deploy/tokenmill.example.ini"
printf '[shard]\nzstd_level = 5\nfrobnicate = 1\n' > "$work/bad.ini"
expect_rc 2 "$TOKENMILL" config --check "$work/bad.ini"
grep -q "bad.ini:3" "$work/err" && grep -q "frobnicate" "$work/err" || fail "config error does not name line and key: $(cat "$work/err")"
printf '[shard]\nzstd_level = high\n' > "$work/bad2.ini"
expect_rc 2 "$TOKENMILL" config --check "$work/bad2.ini"
grep -q "bad2.ini:2" "$work/err" || fail "type error does not name the line"

# log format flags
expect_rc 0 "$TOKENMILL" --log-json config --check "$TM_SOURCE_DIR/deploy/tokenmill.example.ini"
expect_rc 2 "$TOKENMILL" --log-level loud config --reference

# a missing dependency stops configuration naming the Debian package
rc=0; PKG_CONFIG_LIBDIR=/nonexistent cmake -S "$TM_SOURCE_DIR" -B "$work/cfg" > "$work/cfg.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "missing dependency 'libuv': apt-get install libuv1-dev" "$work/cfg.log" \
  || fail "configure without libuv: exit $rc, $(grep -m1 -i missing "$work/cfg.log")"
ok

# install
cmake --install "$TM_BUILD_DIR" --prefix "$work/prefix" >/dev/null
[ -x "$work/prefix/bin/tokenmill" ] && [ -x "$work/prefix/bin/tokenmill-train" ] || fail "cmake --install"
"$work/prefix/bin/tokenmill" --version >/dev/null
ok
echo "cli: $pass passed, 0 failed"
