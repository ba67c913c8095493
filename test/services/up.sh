#!/usr/bin/env bash
# test/services/up.sh — install (if needed) and start the local services the
# Adjutant test suite needs, then write a machine-readable env file.
#
#   * PostgreSQL 15 cluster "15 main" + pgvector (built from Debian trixie
#     source, because bookworm has no pgvector package), a superuser role and
#     a test database.
#   * A throwaway Dovecot (IMAP, IMAPS, LMTP) on 127.0.0.1 with a private
#     config rendered from test/services/dovecot.conf.template into the state
#     dir. No system config is touched and no system service is left running.
#
# Target: Debian 12 (bookworm), run as root (CI). Idempotent; when everything
# is already up it only does a few cheap checks (well under 2 s).
#
# Overrides (environment):
#   ADJUTANT_TEST_STATE_DIR      state dir            (/tmp/adjutant-test-services)
#   ADJUTANT_TEST_IMAP_PORT      plain IMAP port      (31143)
#   ADJUTANT_TEST_IMAPS_PORT     IMAP over TLS port   (31993)
#   ADJUTANT_TEST_LMTP_PORT      LMTP port            (31024)
#   ADJUTANT_TEST_IMAP_PASSWORD  password for every IMAP user (secret)
#   ADJUTANT_TEST_PG_PORT        PostgreSQL port      (5432; used when creating the cluster)
#   ADJUTANT_TEST_PG_USER / ADJUTANT_TEST_PG_PASSWORD / ADJUTANT_TEST_PG_DB
#                                (adjutant / adjutant / adjutant_test)
#   ADJUTANT_TEST_PGVECTOR_SUITE Debian suite to take pgvector source from (trixie)
#   ADJUTANT_TEST_VERIFY=1       force the full Dovecot round-trip self-test
#   ADJUTANT_TEST_REBUILD_PGVECTOR=1  rebuild + reinstall pgvector even if present
#                                (existing databases keep their extension version)
#
# Output: $STATE_DIR/env with KEY=VALUE lines (see write_env_file below).

set -euo pipefail

# ----------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$SCRIPT_DIR/dovecot.conf.template"

STATE_DIR="${ADJUTANT_TEST_STATE_DIR:-/tmp/adjutant-test-services}"
IMAP_HOST=127.0.0.1
IMAP_PORT="${ADJUTANT_TEST_IMAP_PORT:-31143}"
IMAPS_PORT="${ADJUTANT_TEST_IMAPS_PORT:-31993}"
LMTP_PORT="${ADJUTANT_TEST_LMTP_PORT:-31024}"
IMAP_PASSWORD="${ADJUTANT_TEST_IMAP_PASSWORD:-secret}"

PG_VERSION=15
PG_CLUSTER=main
PG_HOST=127.0.0.1
PG_PORT="${ADJUTANT_TEST_PG_PORT:-5432}"
PG_USER="${ADJUTANT_TEST_PG_USER:-adjutant}"
PG_PASSWORD="${ADJUTANT_TEST_PG_PASSWORD:-adjutant}"
PG_DB="${ADJUTANT_TEST_PG_DB:-adjutant_test}"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
PG_CONFIG="$PG_BIN/pg_config"
PGVECTOR_CONTROL="/usr/share/postgresql/$PG_VERSION/extension/vector.control"
PGVECTOR_SUITE="${ADJUTANT_TEST_PGVECTOR_SUITE:-trixie}"

DOVECOT_DIR="$STATE_DIR/dovecot"
DOVECOT_CONF="$DOVECOT_DIR/dovecot.conf"
DOVECOT_PIDFILE="$DOVECOT_DIR/run/master.pid"
DOVECOT_LOG="$DOVECOT_DIR/dovecot.log"
TLS_CERT="$DOVECOT_DIR/tls/cert.pem"
TLS_KEY="$DOVECOT_DIR/tls/key.pem"
ENV_FILE="$STATE_DIR/env"
LOG_DIR="$STATE_DIR/logs"
LOCK_FILE="$STATE_DIR/.lock"
LOCK_FD=""

START_TS=$(date +%s)
TMP_DIR=""
POLICY_RC_CREATED=0
DOVECOT_STARTED=0
PG_CHANGED=0

# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------
say()  { printf '[services] %s\n' "$*"; }
warn() { printf '[services] WARNING: %s\n' "$*" >&2; }
die()  {
  printf '[services] ERROR: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '[services]   %s\n' "$line" >&2; done
  exit 1
}
elapsed() { echo "$(( $(date +%s) - START_TS ))s"; }

cleanup() {
  local rc=$?
  if [[ $POLICY_RC_CREATED == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ -n $TMP_DIR && -d $TMP_DIR ]]; then rm -rf "$TMP_DIR"; fi
  if [[ $rc != 0 ]]; then
    printf '[services] FAILED (exit %s) after %s. Logs: %s\n' "$rc" "$(elapsed)" "$LOG_DIR" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT   # make sure the EXIT trap (temp files, policy-rc.d) runs
trap 'exit 143' TERM

is_root() { [[ $(id -u) == 0 ]]; }

# Run a command that may leave a daemon behind (postgres, dovecot, package
# postinst scripts) with stdin from /dev/null and every fd above 2 closed.
# Daemons inherit open fds: our lock fd would keep the flock held forever,
# and a caller's pipe (CI runner, npm) would never see EOF.
daemonize_cmd() {
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [[ $fd =~ ^[0-9]+$ ]] && (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) </dev/null
}
need_root() {
  is_root || die "must run as root to $1." \
    "Re-run with: sudo bash test/services/up.sh   (CI runs it as root)"
}

# Creates $TMP_DIR (removed by the EXIT trap). Call directly, not via $(...),
# or the assignment is lost in the subshell.
make_tmp_dir() {
  if [[ -z $TMP_DIR ]]; then
    TMP_DIR=$(mktemp -d /tmp/adjutant-services.XXXXXX)
    chmod 755 "$TMP_DIR"   # apt's _apt sandbox user must be able to write into it
  fi
}

# Show the tail of a log file on stderr (for error messages).
show_tail() {
  local file=$1 n=${2:-25}
  [[ -f $file ]] || return 0
  printf '[services] ---- last %s lines of %s ----\n' "$n" "$file" >&2
  tail -n "$n" "$file" >&2 || true
  printf '[services] ----\n' >&2
}

# port_open PORT [expect-prefix] — TCP connect to 127.0.0.1:PORT; optionally
# require the first line of the greeting to start with a prefix.
port_open() {
  local port=$1 expect=${2:-} fd line=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  if [[ -n $expect ]]; then
    IFS= read -r -t 3 line <&"$fd" 2>/dev/null || true
    exec {fd}>&-
    [[ $line == "$expect"* ]]
    return
  fi
  exec {fd}>&-
  return 0
}

apt_log() { printf '%s/apt-%s.log' "$LOG_DIR" "$1"; }

# apt_install LOGNAME PKG... — install with apt-get; if it fails because the
# package lists are missing/stale, run `apt-get update` once and retry.
apt_install() {
  local name=$1; shift
  local log; log=$(apt_log "$name")
  need_root "install $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  local -a cmd=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@")
  if daemonize_cmd "${cmd[@]}" >"$log" 2>&1; then return 0; fi
  if grep -qE "Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found|Unable to fetch some archives" "$log"; then
    say "apt package lists missing or stale; running apt-get update…"
    apt-get update -q >>"$log" 2>&1 || { show_tail "$log"; die "apt-get update failed (see $log)." "Check network access to the Debian mirror."; }
    if daemonize_cmd "${cmd[@]}" >>"$log" 2>&1; then return 0; fi
  fi
  show_tail "$log"
  die "apt-get install $* failed (full log: $log)." \
    "Try manually: apt-get update && apt-get install --no-install-recommends $*"
}

# ----------------------------------------------------------------------------
# Validation + state dir + lock
# ----------------------------------------------------------------------------
validate_and_lock() {
  for v in IMAP_PORT IMAPS_PORT LMTP_PORT PG_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'."
  done
  [[ $IMAP_PASSWORD =~ ^[A-Za-z0-9._-]+$ ]] || die "ADJUTANT_TEST_IMAP_PASSWORD may only contain [A-Za-z0-9._-]."
  [[ $PG_USER =~ ^[a-z_][a-z0-9_]*$ && $PG_DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "PG user/db names must match ^[a-z_][a-z0-9_]*$."
  [[ $PG_PASSWORD =~ ^[A-Za-z0-9._-]+$ ]] || die "ADJUTANT_TEST_PG_PASSWORD may only contain [A-Za-z0-9._-] (it goes into a URL)."
  [[ ${#DOVECOT_DIR} -le 60 ]] || die "state dir path too long for Dovecot's unix sockets (108-byte limit): $DOVECOT_DIR" \
    "Set ADJUTANT_TEST_STATE_DIR to a shorter path."

  if ! mkdir -p "$STATE_DIR" "$LOG_DIR" 2>/dev/null; then
    die "cannot create state dir $STATE_DIR." "Run as root (sudo) or set ADJUTANT_TEST_STATE_DIR to a writable path."
  fi

  # Read-only fallback: flock works on any fd, so non-root callers still
  # serialize against root runs when the lock file already exists.
  if { exec {LOCK_FD}>>"$LOCK_FILE"; } 2>/dev/null || { exec {LOCK_FD}<"$LOCK_FILE"; } 2>/dev/null; then
    if ! flock -n "$LOCK_FD"; then
      say "another up.sh is running; waiting for lock $LOCK_FILE…"
      flock -w 1200 "$LOCK_FD" || die "timed out after 20 min waiting for $LOCK_FILE." \
        "If no other up.sh is running, delete the lock file and retry."
    fi
  else
    LOCK_FD=""
    warn "cannot open lock file $LOCK_FILE (not writable); continuing without lock."
  fi
}

# ----------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------
psql_app() {  # psql over TCP as the test superuser
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
    -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"
}
psql_admin() {  # psql over the unix socket as postgres (peer auth)
  (cd / && runuser -u postgres -- "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@")
}

pg_ready() {
  local out
  out=$(psql_app -d "$PG_DB" -c \
    "select (select rolsuper from pg_roles where rolname = current_user)::text || ':' || coalesce((select extversion from pg_extension where extname = 'vector'), '')" \
    2>/dev/null) || return 1
  [[ $out == true:?* ]]
}

pg_cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c'; }

ensure_pg_cluster() {
  command -v pg_lsclusters >/dev/null && [[ -x $PG_BIN/postgres ]] ||
    die "PostgreSQL $PG_VERSION server is not installed (install_packages should have done it)." "Install it: apt-get install postgresql-$PG_VERSION"
  local line
  line=$(pg_cluster_line)
  if [[ -z $line ]]; then
    need_root "create PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
    say "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT…"
    daemonize_cmd pg_createcluster -p "$PG_PORT" "$PG_VERSION" "$PG_CLUSTER" >"$LOG_DIR/pg_createcluster.log" 2>&1 ||
      { show_tail "$LOG_DIR/pg_createcluster.log"; die "pg_createcluster $PG_VERSION $PG_CLUSTER failed."; }
    line=$(pg_cluster_line)
  fi
  local port status logfile
  port=$(awk '{print $3}' <<<"$line")
  status=$(awk '{print $4}' <<<"$line")
  logfile=$(awk '{print $7}' <<<"$line")
  if [[ $port != "$PG_PORT" ]]; then
    die "cluster $PG_VERSION/$PG_CLUSTER is configured for port $port, expected $PG_PORT." \
      "Either set ADJUTANT_TEST_PG_PORT=$port or change 'port' in /etc/postgresql/$PG_VERSION/$PG_CLUSTER/postgresql.conf."
  fi
  if [[ $status != online* ]]; then
    need_root "start PostgreSQL"
    say "starting PostgreSQL $PG_VERSION/$PG_CLUSTER…"
    if ! daemonize_cmd pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start >"$LOG_DIR/pg_start.log" 2>&1; then
      show_tail "$LOG_DIR/pg_start.log"
      show_tail "$logfile"
      die "could not start PostgreSQL $PG_VERSION/$PG_CLUSTER (port $PG_PORT in use? see logs above)." \
        "Manual start: pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER start"
    fi
  fi
  wait_pg_accepting "$logfile"
  if pg_server_stale; then
    need_root "restart PostgreSQL"
    say "PostgreSQL is running older binaries than the installed package ($PG_STALE_REASON); restarting…"
    if ! daemonize_cmd pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" restart >"$LOG_DIR/pg_restart.log" 2>&1; then
      show_tail "$LOG_DIR/pg_restart.log"
      show_tail "$logfile"
      die "could not restart PostgreSQL $PG_VERSION/$PG_CLUSTER." \
        "Manual restart: pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER restart"
    fi
    wait_pg_accepting "$logfile"
    if pg_server_stale; then
      die "PostgreSQL still looks stale after a restart: $PG_STALE_REASON" "See $logfile"
    fi
  fi
}

wait_pg_accepting() {
  local logfile=$1 i
  for ((i = 0; i < 100; i++)); do
    "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" && return 0
    sleep 0.1
  done
  show_tail "$logfile"
  die "PostgreSQL is running but not accepting TCP connections on $PG_HOST:$PG_PORT." \
    "Check listen_addresses in /etc/postgresql/$PG_VERSION/$PG_CLUSTER/postgresql.conf."
}

# Mirror URI of the machine's own Debian archive (not -security), from apt's
# deb822 .sources files or the legacy sources.list.
debian_mirror() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk '
      function flush() { if (uris != "" && uris !~ /security/ && found == "") found = uris; uris = "" }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:"   { $1 = ""; sub(/^[ \t]+/, ""); split($0, a, /[ \t]+/); uris = a[1] }
      END { flush(); print found }' "$f")
    [[ -n $uri ]] && break
  done
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($i !~ /security/) { print $i; exit } break } }' /etc/apt/sources.list)
  fi
  if [[ -z $uri ]]; then
    warn "could not find a Debian mirror in /etc/apt/sources.list{,.d}; using http://deb.debian.org/debian"
    uri=http://deb.debian.org/debian
  fi
  printf '%s' "${uri%/}"
}

build_pgvector() {
  need_root "build and install pgvector"
  make_tmp_dir
  local t=$TMP_DIR
  local log="$LOG_DIR/pgvector-build.log"
  : >"$log"

  # Build dependencies were installed by install_packages, before any server started.
  [[ -f /usr/include/postgresql/$PG_VERSION/server/postgres.h ]] && command -v make >/dev/null && command -v gcc >/dev/null ||
    die "pgvector build dependencies are missing (postgresql-server-dev-$PG_VERSION, gcc, make)." \
      "install_packages should have installed them; see $LOG_DIR/apt-packages.log"
  local mirror; mirror=$(debian_mirror)
  say "downloading pgvector source from Debian $PGVECTOR_SUITE ($mirror)… [$(elapsed)]"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed=""
  [[ -f $keyring ]] && signed="[signed-by=$keyring] "
  mkdir -p "$t/apt/lists/partial" "$t/apt/cache/archives/partial" "$t/src"
  printf 'deb-src %s%s %s main\n' "$signed" "$mirror" "$PGVECTOR_SUITE" >"$t/apt/sources.list"
  # Private apt state: own sources list, own lists dir, own cache; the system
  # apt configuration and lists are left untouched.
  local -a apt_private=(
    -o "Dir::Etc::sourcelist=$t/apt/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$t/apt/lists"
    -o "Dir::Cache=$t/apt/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${apt_private[@]}" update >>"$log" 2>&1 ||
    { show_tail "$log"; die "apt-get update for the private deb-src list ($mirror $PGVECTOR_SUITE) failed." "Is $mirror reachable?"; }
  (cd "$t/src" && apt-get "${apt_private[@]}" source --download-only pgvector) >>"$log" 2>&1 ||
    { show_tail "$log"; die "apt-get source --download-only pgvector ($PGVECTOR_SUITE) failed."; }

  local dsc srcdir
  dsc=$(ls "$t"/src/pgvector_*.dsc 2>/dev/null | head -n1)
  [[ -n $dsc ]] || { show_tail "$log"; die "pgvector .dsc not found after download."; }
  say "building pgvector $(basename "$dsc" .dsc | sed 's/^pgvector_//')… [$(elapsed)]"
  if command -v dpkg-source >/dev/null; then
    # Hashes were verified by apt against the signed InRelease; skip the .dsc
    # signature check (needs debian-keyring, not installed).
    (cd "$t/src" && dpkg-source --no-check -x "$(basename "$dsc")" pgvector) >>"$log" 2>&1 ||
      { show_tail "$log"; die "dpkg-source -x failed for $dsc."; }
  else
    # No dpkg-dev: unpack the upstream tarball (Debian's only patch removes
    # -march=native, which OPTFLAGS= below also does).
    mkdir -p "$t/src/pgvector"
    tar -xzf "$(ls "$t"/src/pgvector_*.orig.tar.* | head -n1)" -C "$t/src/pgvector" --strip-components=1 >>"$log" 2>&1 ||
      { show_tail "$log"; die "could not unpack pgvector upstream tarball."; }
  fi
  srcdir="$t/src/pgvector"
  # OPTFLAGS="" : portable build (no -march=native); with_llvm=no : skip JIT bitcode (needs clang).
  local -a mk=(make -C "$srcdir" "PG_CONFIG=$PG_CONFIG" OPTFLAGS= with_llvm=no)
  "${mk[@]}" -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 ||
    { show_tail "$log" 40; die "pgvector build failed (log: $log)."; }
  "${mk[@]}" install >>"$log" 2>&1 ||
    { show_tail "$log" 40; die "pgvector 'make install' failed (log: $log)."; }
  [[ -f $PGVECTOR_CONTROL ]] || die "pgvector installed but $PGVECTOR_CONTROL is missing (log: $log)."
  say "pgvector installed. [$(elapsed)]"
}

# pg_server_stale — true when the running server is not the installed one. A package upgrade
# under a running server (a fresh machine's mirror may hold a newer minor release) leaves the old
# postmaster loading the new plpgsql.so: "undefined symbol: heap_datum_update_type". Checked on
# every run, fast path included, because a server that answers `select 1` can still be broken.
PG_STALE_REASON=""
pg_server_stale() {
  PG_STALE_REASON=""
  local running installed probe
  running=$(psql_admin -d postgres -c 'show server_version' 2>/dev/null) || return 1   # not running: nothing stale
  installed=$(dpkg-query -W -f='${Version}' "postgresql-$PG_VERSION" 2>/dev/null || true)
  if [[ -n $installed && $running == *"("* && $running != *"$installed"* ]]; then
    PG_STALE_REASON="running '$running', installed $installed"
    return 0
  fi
  if ! probe=$(psql_admin -d postgres -c 'DO $$ BEGIN PERFORM 1; END $$' 2>&1); then
    if grep -qiE 'undefined symbol|could not load library' <<<"$probe"; then
      PG_STALE_REASON="PL/pgSQL does not load: ${probe:0:200}"
      return 0
    fi
  fi
  return 1
}

# install_packages — every Debian package the services need, in one apt-get run, before any
# server is started or restarted. Order matters on a brand-new machine: installing
# postgresql-server-dev can upgrade postgresql itself.
install_packages() {
  local -a want=()
  if ! command -v pg_lsclusters >/dev/null || [[ ! -x $PG_BIN/postgres ]]; then
    want+=("postgresql-$PG_VERSION" postgresql-common)
  fi
  local rebuild=${ADJUTANT_TEST_REBUILD_PGVECTOR:-0}
  if [[ ! -f $PGVECTOR_CONTROL || $rebuild == 1 ]]; then
    [[ -f /usr/include/postgresql/$PG_VERSION/server/postgres.h ]] || want+=("postgresql-server-dev-$PG_VERSION")
    command -v make >/dev/null || want+=(make)
    command -v gcc >/dev/null || want+=(gcc libc6-dev)
    command -v dpkg-source >/dev/null || want+=(dpkg-dev)
  fi
  dovecot_installed || want+=(dovecot-imapd dovecot-lmtpd)
  command -v openssl >/dev/null || want+=(openssl)
  command -v curl >/dev/null || want+=(curl)
  command -v ss >/dev/null || want+=(iproute2)
  (( ${#want[@]} > 0 )) || return 0
  # The server package is upgraded together with its -dev package, never behind it.
  if [[ " ${want[*]} " == *" postgresql-server-dev-$PG_VERSION "* && " ${want[*]} " != *" postgresql-$PG_VERSION "* ]]; then
    want+=("postgresql-$PG_VERSION")
  fi
  say "installing ${want[*]}… [$(elapsed)]"
  block_service_starts
  apt_install packages "${want[@]}"
  unblock_service_starts
  if [[ " ${want[*]} " == *" dovecot-imapd "* ]]; then
    stop_system_dovecot
    dovecot_installed || die "Dovecot install finished but dovecot/doveadm/imap/lmtp binaries or the 'dovecot' user are missing." \
      "See $(apt_log packages)"
  fi
}

ensure_pg_hba() {
  # Debian's default pg_hba.conf allows scram/md5 for host 127.0.0.1/32. If
  # someone removed that, add a line for the test role only.
  local err
  err=$(psql_app -d "$PG_DB" -c 'select 1' 2>&1 >/dev/null) && return 0
  if grep -q 'no pg_hba.conf entry' <<<"$err"; then
    local hba; hba=$(psql_admin -d postgres -c 'show hba_file')
    say "adding 'host all $PG_USER 127.0.0.1/32 scram-sha-256' to $hba"
    sed -i "1i host all $PG_USER 127.0.0.1/32 scram-sha-256  # added by adjutant test/services/up.sh" "$hba"
    psql_admin -d postgres -c 'select pg_reload_conf()' >/dev/null
    sleep 0.3
    err=$(psql_app -d "$PG_DB" -c 'select 1' 2>&1 >/dev/null) && return 0
  fi
  die "password login over TCP failed: $err" \
    "Check $PG_HOST/32 lines in /etc/postgresql/$PG_VERSION/$PG_CLUSTER/pg_hba.conf (need md5 or scram-sha-256)."
}

ensure_postgres() {
  local rebuild=${ADJUTANT_TEST_REBUILD_PGVECTOR:-0}
  if [[ $rebuild != 1 ]] && pg_ready && ! pg_server_stale; then return 0; fi
  PG_CHANGED=1
  # pgvector is built before the server starts: nothing installed after this point can change
  # the binaries under a running server.
  if [[ ! -f $PGVECTOR_CONTROL || $rebuild == 1 ]]; then
    build_pgvector
  fi
  ensure_pg_cluster
  need_root "create the PostgreSQL role/database (runs psql as the postgres user)"
  say "ensuring role '$PG_USER' and database '$PG_DB'…"
  psql_admin -d postgres -v u="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" >"$LOG_DIR/pg_setup.log" 2>&1 <<'SQL' ||
SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', :'u', :'pw')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN SUPERUSER PASSWORD %L', :'u', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'u')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    { show_tail "$LOG_DIR/pg_setup.log"; die "creating role/database failed."; }
  ensure_pg_hba
  psql_app -d "$PG_DB" -c 'CREATE EXTENSION IF NOT EXISTS vector' >"$LOG_DIR/pg_ext.log" 2>&1 ||
    { show_tail "$LOG_DIR/pg_ext.log"; die "CREATE EXTENSION vector failed in $PG_DB." "Is $PGVECTOR_CONTROL present and built for PostgreSQL $PG_VERSION?"; }
  pg_ready || die "PostgreSQL check failed after setup (superuser '$PG_USER' + vector in '$PG_DB' over TCP)."
}

# ----------------------------------------------------------------------------
# Dovecot
# ----------------------------------------------------------------------------
dovecot_installed() {
  command -v dovecot >/dev/null && command -v doveadm >/dev/null &&
    [[ -x /usr/lib/dovecot/imap && -x /usr/lib/dovecot/lmtp ]] && getent passwd dovecot >/dev/null
}

# Keep package postinst scripts from starting *system* services (dovecot on 143/993, a
# postgresql cluster): this script starts its own, after every package is in place. Docker-style
# images already ship a policy-rc.d returning 101.
block_service_starts() {
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, created by adjutant test/services/up.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
}
unblock_service_starts() {
  if [[ $POLICY_RC_CREATED == 1 ]]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
}

# Belt and braces: if the package install started a system dovecot anyway, stop it.
stop_system_dovecot() {
  local pid
  if [[ -f /run/dovecot/master.pid ]]; then
    pid=$(cat /run/dovecot/master.pid 2>/dev/null || true)
    if [[ -n $pid ]] && pid_alive "$pid"; then
      say "stopping system dovecot (pid $pid) started by the package install"
      if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl stop dovecot.service dovecot.socket 2>/dev/null || true
        systemctl disable dovecot.service dovecot.socket 2>/dev/null || true
      fi
      kill "$pid" 2>/dev/null || true
    fi
  fi
}

render_dovecot_conf() {
  [[ -f $TEMPLATE ]] || die "Dovecot config template not found: $TEMPLATE"
  local uid gid
  uid=$(id -u dovecot) gid=$(id -g dovecot)
  sed -e "s|@DIR@|$DOVECOT_DIR|g" \
      -e "s|@LISTEN@|$IMAP_HOST|g" \
      -e "s|@IMAP_PORT@|$IMAP_PORT|g" \
      -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" \
      -e "s|@LMTP_PORT@|$LMTP_PORT|g" \
      -e "s|@PASSWORD@|$IMAP_PASSWORD|g" \
      -e "s|@MAIL_UID@|$uid|g" \
      -e "s|@MAIL_GID@|$gid|g" \
      "$TEMPLATE"
}

# pid_alive PID — process exists and is not a zombie. A killed dovecot master
# can linger as a zombie when PID 1 does not reap orphans (containers/microVMs).
pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] ]]
}

dovecot_pid() {
  local pid
  [[ -f $DOVECOT_PIDFILE ]] || return 1
  pid=$(cat "$DOVECOT_PIDFILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  # Guard against pid reuse: must be a dovecot master.
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dovecot ]] || return 1
  printf '%s' "$pid"
}

dovecot_up() {
  # master.pid is 0600 root: a non-root caller can only rely on the ports.
  { dovecot_pid >/dev/null || { ! is_root && [[ -f $DOVECOT_PIDFILE && ! -r $DOVECOT_PIDFILE ]]; }; } &&
    port_open "$IMAP_PORT" '* OK' &&
    port_open "$IMAPS_PORT" &&
    port_open "$LMTP_PORT" '220 '
}

stop_dovecot() {
  local pid i
  pid=$(dovecot_pid) || return 0
  say "stopping test dovecot (pid $pid)…"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  warn "dovecot pid $pid did not exit after 10 s; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
  sleep 0.2
}

make_tls_cert() {
  mkdir -p "$DOVECOT_DIR/tls"
  chmod 755 "$DOVECOT_DIR/tls"   # cert is read by tests (TEST_IMAP_TLS_CA); key itself is 0600
  say "generating self-signed TLS certificate (CN=localhost, SAN localhost + 127.0.0.1)…"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -subj "/CN=localhost/O=Adjutant test" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TLS_KEY.tmp" -out "$TLS_CERT.tmp" >"$LOG_DIR/openssl.log" 2>&1 ||
    { show_tail "$LOG_DIR/openssl.log"; die "openssl could not generate the test certificate."; }
  chmod 600 "$TLS_KEY.tmp"; chmod 644 "$TLS_CERT.tmp"
  mv -f "$TLS_KEY.tmp" "$TLS_KEY"; mv -f "$TLS_CERT.tmp" "$TLS_CERT"
}

wait_dovecot_auth() {
  local i out=""
  for ((i = 0; i < 100; i++)); do
    if out=$(doveadm -c "$DOVECOT_CONF" auth test ready-check@example.test "$IMAP_PASSWORD" 2>&1); then
      return 0
    fi
    # Early connections report "Waiting for authentication process" / no socket yet.
    sleep 0.1
  done
  show_tail "$DOVECOT_LOG"
  die "dovecot auth never became ready: $out" "Config: $DOVECOT_CONF  Log: $DOVECOT_LOG"
}

start_dovecot() {
  need_root "start the test Dovecot"
  local port who i
  # Stale master.pid (dead or zombie master) makes dovecot refuse to start
  # ("Dovecot is already running with PID ..."): we know it is dead, drop it.
  if [[ -f $DOVECOT_PIDFILE ]] && ! dovecot_pid >/dev/null; then
    rm -f "$DOVECOT_PIDFILE"
  fi
  for port in "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT"; do
    # Children of a just-killed master may hold the listener for a moment.
    for ((i = 0; i < 30; i++)); do port_open "$port" || break; sleep 0.1; done
    if port_open "$port"; then
      who=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1)
      die "port 127.0.0.1:$port is already in use${who:+ by $who}, but not by our test dovecot." \
        "Stop that process or pick other ports (ADJUTANT_TEST_IMAP_PORT / _IMAPS_PORT / _LMTP_PORT)."
    fi
  done
  say "starting test dovecot (IMAP $IMAP_PORT, IMAPS $IMAPS_PORT, LMTP $LMTP_PORT)…"
  if ! daemonize_cmd dovecot -c "$DOVECOT_CONF" >"$LOG_DIR/dovecot-start.log" 2>&1; then
    cat "$LOG_DIR/dovecot-start.log" >&2
    show_tail "$DOVECOT_LOG"
    die "dovecot -c $DOVECOT_CONF failed to start." "Validate the config with: doveconf -c $DOVECOT_CONF -n"
  fi
  wait_dovecot_auth
  for ((i = 0; i < 50; i++)); do
    dovecot_up && break
    sleep 0.1
  done
  dovecot_up || { show_tail "$DOVECOT_LOG"; die "dovecot started but its ports are not answering." "Log: $DOVECOT_LOG"; }
  DOVECOT_STARTED=1
}

# Send one message via LMTP (pure bash, no extra tools).
lmtp_deliver() {
  local rcpt=$1 subject=$2 fd line
  { exec {fd}<>"/dev/tcp/127.0.0.1/$LMTP_PORT"; } 2>/dev/null || { echo "[services] LMTP: cannot connect to 127.0.0.1:$LMTP_PORT" >&2; return 1; }
  _lmtp_reply() {  # read a (multi-line) reply; succeed on 2xx/3xx
    local l
    while IFS= read -r -t 10 l <&"$fd"; do
      l=${l%$'\r'}
      [[ $l =~ ^[0-9]{3}- ]] && continue
      [[ $l =~ ^[23][0-9]{2}([[:space:]]|$) ]] && return 0
      printf '[services] LMTP: %s\n' "$l" >&2
      return 1
    done
    printf '[services] LMTP: no reply\n' >&2
    return 1
  }
  _lmtp_reply &&
    printf 'LHLO localhost\r\n' >&"$fd" && _lmtp_reply &&
    printf 'MAIL FROM:<selftest@example.test>\r\n' >&"$fd" && _lmtp_reply &&
    printf 'RCPT TO:<%s>\r\n' "$rcpt" >&"$fd" && _lmtp_reply &&
    printf 'DATA\r\n' >&"$fd" && _lmtp_reply &&
    printf 'From: selftest@example.test\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nhello from up.sh\r\n.\r\n' \
      "$rcpt" "$subject" "${rcpt%@*}" >&"$fd" && _lmtp_reply ||
    { exec {fd}>&-; return 1; }
  printf 'QUIT\r\n' >&"$fd" || true
  exec {fd}>&-
}

imap_fetch() {  # imap_fetch plain|tls USER -> prints message 1
  local mode=$1 user=$2
  if command -v curl >/dev/null; then
    if [[ $mode == plain ]]; then
      curl -sS --max-time 10 --user "$user:$IMAP_PASSWORD" "imap://127.0.0.1:$IMAP_PORT/INBOX;UID=1"
    else
      curl -sS --max-time 10 --cacert "$TLS_CERT" --user "$user:$IMAP_PASSWORD" "imaps://127.0.0.1:$IMAPS_PORT/INBOX;UID=1"
    fi
  else
    python3 - "$mode" "$user" "$IMAP_PASSWORD" "$IMAP_PORT" "$IMAPS_PORT" "$TLS_CERT" <<'PY'
import imaplib, ssl, sys
mode, user, pw, port, sport, cert = sys.argv[1:]
if mode == "plain":
    c = imaplib.IMAP4("127.0.0.1", int(port))
else:
    c = imaplib.IMAP4_SSL("127.0.0.1", int(sport), ssl_context=ssl.create_default_context(cafile=cert))
c.login(user, pw); c.select("INBOX")
typ, data = c.uid("FETCH", "1", "(RFC822)")
sys.stdout.write(data[0][1].decode()); c.logout()
PY
  fi
}

verify_dovecot() {
  local token="selftest-$$-$RANDOM"
  local user="$token@example.test" subject="up.sh $token" out
  say "self-test: LMTP delivery + IMAP fetch (plain and TLS)…"
  lmtp_deliver "$user" "$subject" || { show_tail "$DOVECOT_LOG"; die "LMTP delivery to $user on 127.0.0.1:$LMTP_PORT failed."; }
  out=$(imap_fetch plain "$user" 2>&1) || { show_tail "$DOVECOT_LOG"; die "IMAP fetch on 127.0.0.1:$IMAP_PORT failed: $out"; }
  grep -q "Subject: $subject" <<<"$out" || die "IMAP (plain) fetched an unexpected message for $user: ${out:0:300}"
  out=$(imap_fetch tls "$user" 2>&1) || { show_tail "$DOVECOT_LOG"; die "IMAPS fetch on 127.0.0.1:$IMAPS_PORT failed: $out"; }
  grep -q "Subject: $subject" <<<"$out" || die "IMAP (TLS) fetched an unexpected message for $user: ${out:0:300}"
  rm -rf "${DOVECOT_DIR:?}/mail/$user"
}

ensure_dovecot() {
  dovecot_installed || die "Dovecot is not installed (install_packages should have done it)." "See $(apt_log packages)"

  local rendered current=""
  rendered=$(render_dovecot_conf)
  [[ -f $DOVECOT_CONF ]] && current=$(<"$DOVECOT_CONF")

  if [[ $rendered == "$current" && -s $TLS_CERT && -s $TLS_KEY ]] && dovecot_up; then
    return 0
  fi

  need_root "configure and (re)start the test Dovecot"
  # Layout: state dir must be traversable by the dovecot user; mail/ owned by it.
  mkdir -p "$DOVECOT_DIR/mail" "$DOVECOT_DIR/state"
  chmod 755 "$STATE_DIR" "$DOVECOT_DIR"
  chown dovecot:dovecot "$DOVECOT_DIR/mail"
  chmod 750 "$DOVECOT_DIR/mail"
  if [[ ! -s $TLS_CERT || ! -s $TLS_KEY ]]; then
    make_tls_cert
    stop_dovecot
  fi
  if [[ $rendered != "$current" ]]; then
    [[ -n $current ]] && say "dovecot config changed; restarting"
    printf '%s\n' "$rendered" >"$DOVECOT_CONF.tmp"
    mv -f "$DOVECOT_CONF.tmp" "$DOVECOT_CONF"
    stop_dovecot
  fi
  if dovecot_pid >/dev/null; then
    # Master alive but a port is not answering: restart it.
    say "test dovecot is running but not answering on all ports; restarting"
    stop_dovecot
  fi
  start_dovecot
}

# ----------------------------------------------------------------------------
# Env file + main
# ----------------------------------------------------------------------------
write_env_file() {
  local content
  content=$(cat <<EOF
# Written by test/services/up.sh — do not edit.
TEST_DATABASE_URL=postgresql://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB
TEST_PG_HOST=$PG_HOST
TEST_PG_PORT=$PG_PORT
TEST_PG_USER=$PG_USER
TEST_PG_PASSWORD=$PG_PASSWORD
TEST_PG_DATABASE=$PG_DB
TEST_IMAP_HOST=$IMAP_HOST
TEST_IMAP_PORT=$IMAP_PORT
TEST_IMAPS_PORT=$IMAPS_PORT
TEST_LMTP_HOST=$IMAP_HOST
TEST_LMTP_PORT=$LMTP_PORT
TEST_IMAP_PASSWORD=$IMAP_PASSWORD
TEST_IMAP_TLS_CA=$TLS_CERT
TEST_DOVECOT_CONFIG=$DOVECOT_CONF
TEST_SERVICES_STATE_DIR=$STATE_DIR
EOF
)
  if [[ ! -f $ENV_FILE || $(<"$ENV_FILE") != "$content" ]]; then
    printf '%s\n' "$content" >"$ENV_FILE.tmp" && mv -f "$ENV_FILE.tmp" "$ENV_FILE" ||
      die "cannot write $ENV_FILE."
  fi
}

main() {
  validate_and_lock
  # 1. every package, 2. build pgvector, 3. start (or restart) servers: nothing is installed
  # under a running server.
  install_packages
  ensure_postgres
  ensure_dovecot
  if [[ $DOVECOT_STARTED == 1 || ${ADJUTANT_TEST_VERIFY:-0} == 1 ]]; then
    verify_dovecot
  fi
  write_env_file

  if [[ $PG_CHANGED == 1 || $DOVECOT_STARTED == 1 ]]; then
    say "ready after $(elapsed):"
  else
    say "already up:"
  fi
  say "  postgres  postgresql://$PG_USER:***@$PG_HOST:$PG_PORT/$PG_DB (superuser, pgvector)"
  say "  imap      $IMAP_HOST:$IMAP_PORT (plain)  $IMAP_HOST:$IMAPS_PORT (TLS)  any user / password '$IMAP_PASSWORD'"
  say "  lmtp      $IMAP_HOST:$LMTP_PORT"
  say "  env file  $ENV_FILE"
}

# Everything runs from main so bash has parsed the whole file before doing
# anything (safe against the file being edited while a run waits on the lock).
main "$@"
exit $?
