#!/usr/bin/env bash
# Smoke test of one walsync build, run by the release workflow on a runner of the binary's own
# OS and architecture:
#
#   release/smoke.sh full|windows WALSYNC_COMMAND...
#
# `full` (Linux, macOS): version, `watch --once` of a fresh database to a file replica, list,
# restore (compared row for row with the source), verify, snapshot, explain.
# `windows`: version; `watch` and `snapshot` must refuse with exit 2; list, restore and verify of
# a replica Litestream 0.5.17 wrote (tests/testdata), compared with the database it came from.
#
# WALSYNC_COMMAND is the binary (./walsync) or, to try this script from a checkout, e.g.
# `deno run <flags> mod.ts`. EXPECT_COMMIT / EXPECT_TARGET, when set, must appear in `version`.
# PYTHON (default python3, else python) creates and compares the SQLite databases.
set -euo pipefail
mode="${1:?usage: release/smoke.sh full|windows WALSYNC_COMMAND...}"
shift
[ "$#" -gt 0 ] || { echo "smoke: no walsync command given" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if python3 -c "" 2>/dev/null; then PYTHON=python3; else PYTHON=python; fi
fi
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# A command path relative to the checkout (./walsync) must still resolve from ${work}.
cmd=("$@")
if [ -e "${cmd[0]}" ]; then cmd[0]="$(cd "$(dirname "${cmd[0]}")" && pwd)/$(basename "${cmd[0]}")"; fi
cd "${work}"

step() { echo "--- smoke: $*" >&2; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
walsync() { "${cmd[@]}" "$@"; }

# Prints a database's tables and rows (sorted), so two databases compare as text.
dump() {
  "${PYTHON}" - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check failed"
for (name,) in c.execute("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name"):
    for row in sorted(c.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr):
        print(name, repr(row))
PY
}

step "version"
out="$(walsync version)"
echo "${out}"
[[ "${out}" == walsync\ * ]] || fail "version printed '${out}'"
if [ -n "${EXPECT_COMMIT:-}" ] && [[ "${out}" != *"commit ${EXPECT_COMMIT}"* ]]; then
  fail "version does not name commit ${EXPECT_COMMIT}"
fi
if [ -n "${EXPECT_TARGET:-}" ] && [[ "${out}" != *"${EXPECT_TARGET}"* ]]; then
  fail "version does not name target ${EXPECT_TARGET}"
fi
walsync help >/dev/null || fail "help"

case "${mode}" in
full)
  step "create a fresh WAL database"
  "${PYTHON}" - <<'PY'
import sqlite3
c = sqlite3.connect("app.db")
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB)")
c.executemany("INSERT INTO notes (body, data) VALUES (?, randomblob(?))",
              [(f"note {i}", i * 3) for i in range(500)])
c.commit()
c.close()
PY
  step "watch --once to a file replica"
  walsync watch --once app.db -b ./replica || fail "watch --once"
  step "list"
  walsync list -b ./replica | tee list.txt
  grep -q '^app\.db ' list.txt || fail "list does not show app.db"
  step "restore"
  walsync restore app.db -o restored.db -b ./replica || fail "restore"
  [ "$(dump app.db)" = "$(dump restored.db)" ] || fail "restored.db differs from app.db"
  step "verify"
  walsync verify app.db -b ./replica || fail "verify"
  step "snapshot"
  walsync snapshot app.db -b ./replica || fail "snapshot"
  walsync verify app.db -b ./replica || fail "verify after snapshot"
  step "explain"
  walsync explain app.db -b ./replica >/dev/null || fail "explain"
  ;;
windows)
  for command in watch snapshot; do
    step "${command} refuses on Windows"
    code=0
    walsync "${command}" app.db -b ./replica 2>err.txt || code=$?
    cat err.txt >&2
    [ "${code}" = 2 ] || fail "${command} exited ${code}, expected 2"
    grep -q "does not run on Windows" err.txt || fail "${command} did not say why"
  done
  step "a replica Litestream 0.5.17 wrote"
  fixture="${repo}/tests/testdata/ltx/litestream-0.5.17"
  mkdir -p replica/app.db
  cp -R "${fixture}/ltx" replica/app.db/
  walsync list -b ./replica | tee list.txt
  grep -q '^app\.db ' list.txt || fail "list does not show app.db"
  step "restore"
  walsync restore app.db -o restored.db -b ./replica || fail "restore"
  cp "${fixture}/expected.db" expected.db # relative paths only: Windows' Python gets them as is
  [ "$(dump expected.db)" = "$(dump restored.db)" ] ||
    fail "restored.db differs from the fixture's expected.db"
  step "verify"
  walsync verify app.db -b ./replica || fail "verify"
  walsync explain app.db -b ./replica >/dev/null || fail "explain"
  ;;
*)
  fail "unknown mode '${mode}' (full or windows)"
  ;;
esac
echo "smoke: OK (${mode})" >&2
