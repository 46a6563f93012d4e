# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this file
# Shared by Deploy/dev/up, down, status and kafka-fault. Sourced, not run.
# Everything the dev stack keeps (data, logs, pid files, the env file) lives under one state dir.

DEV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$DEV_DIR/../.." && pwd)"

STATE_DIR="${AUDITPIPE_STATE_DIR:-$REPO_ROOT/.dev}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CACHE_DIR="${AUDITPIPE_CACHE_DIR:-$HOME/.cache/auditpipe}"
VENV_DIR="$CACHE_DIR/venv"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
ENV_FILE="$STATE_DIR/env"

CLICKHOUSE_HTTP_PORT="${AUDITPIPE_DEV_CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_TCP_PORT="${AUDITPIPE_DEV_CLICKHOUSE_TCP_PORT:-19000}"
REDIS_PORT="${AUDITPIPE_DEV_REDIS_PORT:-16379}"
KAFKA_CONTROL_PORT="${AUDITPIPE_DEV_KAFKA_CONTROL_PORT:-19092}"
CLICKHOUSE_USER="auditpipe"
CLICKHOUSE_PASSWORD_FILE="$STATE_DIR/clickhouse/password"

say() { printf '%s\n' "$*"; }
warn() { printf 'dev stack: %s\n' "$*" >&2; }
die() { printf 'dev stack: error: %s\n' "$*" >&2; exit 1; }

# Serialize up/down/status runs on one state dir.
take_lock() {
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    exec 9>"$RUN_DIR/lock"
    if ! flock -w 600 9; then
        die "another Deploy/dev command holds $RUN_DIR/lock for 10 minutes; is one stuck?"
    fi
}

# The PID recorded in run/NAME.pid if that process is alive and still the program we started
# (its command line contains every given marker), else nothing. Guards against reused PIDs.
owned_pid() {
    local name="$1"; shift
    local file="$RUN_DIR/$name.pid" pid cmdline marker
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc '0-9' < "$file")"
    [[ -n "$pid" ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" || return 1
    for marker in "$@"; do
        [[ "$cmdline" == *"$marker"* ]] || return 1
    done
    printf '%s\n' "$pid"
}

clickhouse_pid() { owned_pid clickhouse clickhouse_server.py "$STATE_DIR"; }
redis_pid() { owned_pid redis redis-server; }
kafka_pid() { owned_pid kafka auditpipe-dev-kafka; }

# The port a running service was started with (recorded by up), else the configured one.
recorded_port() {
    local file="$RUN_DIR/$1.port"
    if [[ -s "$file" ]]; then tr -dc '0-9' < "$file"; else printf '%s' "$2"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

clickhouse_password() { [[ -s "$CLICKHOUSE_PASSWORD_FILE" ]] && tr -d '\n' < "$CLICKHOUSE_PASSWORD_FILE"; }

# Runs one query as the application user over HTTP; prints the body, fails on non-2xx.
clickhouse_query() {
    local port="$1" query="$2" password
    password="$(clickhouse_password)" || return 1
    curl -sS --fail-with-body --max-time 10 -u "$CLICKHOUSE_USER:$password" \
        "http://127.0.0.1:$port/" --data-binary "$query"
}

clickhouse_healthy() { [[ "$(clickhouse_query "$1" 'SELECT 1' 2>/dev/null)" == "1" ]]; }

redis_healthy() { [[ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == "PONG" ]]; }

# Sends one control line to the mock Kafka cluster and prints its one-line reply.
kafka_control() {
    local port="$1" command="$2"
    (
        exec 8<>"/dev/tcp/127.0.0.1/$port" || exit 1
        printf '%s\n' "$command" >&8
        IFS= read -r -t 10 reply <&8 || exit 1
        printf '%s\n' "$reply"
    ) 2>/dev/null
}

kafka_healthy() { [[ "$(kafka_control "$1" ping 2>/dev/null)" == "ok pong" ]]; }

# Waits up to $2 seconds for process $1 to exit.
wait_exit() {
    local pid="$1" deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Stops process $1: TERM, then KILL after $2 seconds.
terminate() {
    local pid="$1" grace="$2"
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_exit "$pid" "$grace"; then
        warn "pid $pid did not exit within ${grace}s after TERM: sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || warn "pid $pid still alive after KILL"
    fi
}

# --- Stopping (only what up started: the PIDs in run/) ---------------------------------------

stop_clickhouse() {
    local pid port
    if ! pid="$(clickhouse_pid)"; then
        rm -f "$RUN_DIR/clickhouse.pid" "$RUN_DIR/clickhouse.http.port"
        say "clickhouse: not running"
        return 0
    fi
    port="$(recorded_port clickhouse.http "$CLICKHOUSE_HTTP_PORT")"
    # The clean way (stack.md): end the query that keeps the listeners alive; the process exits.
    if clickhouse_query "$port" \
        "KILL QUERY WHERE query LIKE '%sleepEachRow%' AND query NOT LIKE '%KILL%' ASYNC" >/dev/null 2>&1 \
        && wait_exit "$pid" 15; then
        say "clickhouse: stopped (pid $pid, KILL QUERY)"
    else
        terminate "$pid" 15
        say "clickhouse: stopped (pid $pid, signal)"
    fi
    rm -f "$RUN_DIR/clickhouse.pid" "$RUN_DIR/clickhouse.http.port"
}

stop_redis() {
    local pid
    if ! pid="$(redis_pid)"; then
        rm -f "$RUN_DIR/redis.pid" "$RUN_DIR/redis.port"
        say "redis: not running"
        return 0
    fi
    terminate "$pid" 15   # redis-server saves the append-only file on TERM
    rm -f "$RUN_DIR/redis.pid" "$RUN_DIR/redis.port"
    say "redis: stopped (pid $pid)"
}

stop_kafka() {
    local pid
    if ! pid="$(kafka_pid)"; then
        rm -f "$RUN_DIR/kafka.pid" "$RUN_DIR/kafka.port"
        say "kafka: not running"
        return 0
    fi
    terminate "$pid" 15
    rm -f "$RUN_DIR/kafka.pid" "$RUN_DIR/kafka.port"
    say "kafka: stopped (pid $pid; the mock cluster's data is gone)"
}
