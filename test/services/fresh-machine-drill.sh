#!/usr/bin/env bash
# test/services/fresh-machine-drill.sh — prove that test/services/up.sh sets up a brand-new
# machine, by making this machine brand-new first.
#
# DESTRUCTIVE: purges PostgreSQL 15 (its clusters and data included), the PostgreSQL server
# headers, pgvector, Dovecot and the test state dir, then runs up.sh and checks what a test
# needs: PL/pgSQL loads (the symptom of a server running older binaries than the installed
# package), pgvector works, Dovecot delivers and serves mail. Run it on a throwaway machine only:
#
#   ADJUTANT_DRILL_CONFIRM=yes bash test/services/fresh-machine-drill.sh
#
# With ADJUTANT_DRILL_RUNNING_CLUSTER=1 it also starts an old-version cluster before up.sh
# installs anything, to reproduce a package upgrade under a running server (only meaningful when
# the apt lists offer a newer postgresql-15 than the one reinstalled first).
set -euo pipefail

[[ ${ADJUTANT_DRILL_CONFIRM:-} == yes ]] || {
  echo "This purges PostgreSQL 15 with all its data, pgvector and Dovecot from this machine." >&2
  echo "Run on a throwaway machine with ADJUTANT_DRILL_CONFIRM=yes." >&2
  exit 2
}
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 2; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${ADJUTANT_TEST_STATE_DIR:-/tmp/adjutant-test-services}"
say() { printf '[drill] %s\n' "$*"; }
export DEBIAN_FRONTEND=noninteractive

say "stopping the test Dovecot and every PostgreSQL cluster"
if [[ -f $STATE_DIR/dovecot/run/master.pid ]]; then kill "$(cat "$STATE_DIR/dovecot/run/master.pid")" 2>/dev/null || true; fi
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h | while read -r version cluster _; do
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" stop 2>/dev/null || true
  done
fi

say "purging postgresql-15, postgresql-server-dev-15, dovecot and pgvector"
apt-get purge -y -q 'postgresql-15' 'postgresql-server-dev-15' 'dovecot-*' >/tmp/adjutant-drill-purge.log 2>&1 || true
rm -rf /usr/share/postgresql/15/extension/vector* /usr/lib/postgresql/15/lib/vector.so \
  /usr/include/postgresql/15/server/extension/vector /var/lib/postgresql/15 /etc/postgresql/15 "$STATE_DIR"

if [[ ${ADJUTANT_DRILL_RUNNING_CLUSTER:-0} == 1 ]]; then
  # Install the oldest postgresql-15 the lists offer and leave a cluster running on it.
  oldest=$(apt-cache madison postgresql-15 | awk '{print $3}' | sort -V | head -n1)
  say "installing postgresql-15=$oldest and starting its cluster before up.sh runs"
  apt-get install -y -q "postgresql-15=$oldest" >/tmp/adjutant-drill-old.log 2>&1
  pg_lsclusters -h | grep -q '^15 main' || pg_createcluster 15 main >/dev/null
  pg_ctlcluster --skip-systemctl-redirect 15 main start
fi

say "running up.sh on the emptied machine"
start=$(date +%s)
bash "$SCRIPT_DIR/up.sh"
say "up.sh took $(( $(date +%s) - start ))s"

say "checking what the tests need"
# shellcheck disable=SC1091
source "$STATE_DIR/env"
check() { PGPASSWORD=$TEST_PG_PASSWORD psql -X -q -At -v ON_ERROR_STOP=1 -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" -U "$TEST_PG_USER" -d "$TEST_PG_DATABASE" -c "$1"; }
check 'DO $$ BEGIN PERFORM 1; END $$' && say "PL/pgSQL loads"
check "select '[1,2,3]'::vector <=> '[1,2,4]'::vector" >/dev/null && say "pgvector answers"
running=$(check 'show server_version')
installed=$(dpkg-query -W -f='${Version}' postgresql-15)
[[ $running == *"$installed"* ]] || { say "FAILED: server runs '$running', package is $installed"; exit 1; }
say "server version matches the package ($installed)"
ADJUTANT_TEST_VERIFY=1 bash "$SCRIPT_DIR/up.sh" >/dev/null && say "Dovecot delivers over LMTP and serves over IMAP and IMAPS"
say "fresh-machine drill passed"
