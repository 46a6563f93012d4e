# shellcheck shell=bash
# Starting and stopping `auditpipe serve` from scripts (Deploy/run, Deploy/chaos). Sourced, not run.
# Needs AUDITPIPE_BIN (the auditpipe executable) and the dev stack's env (source .dev/env).

# start_server LOG GRPC_ADDR HTTP_ADDR [serve flags...]: starts a server in the background, its
# output appended to LOG; sets SERVER_PID.
start_server() {
    local log="$1" grpc="$2" http="$3"
    shift 3
    mkdir -p "$(dirname "$log")"
    printf '\n== %s: auditpipe serve --grpc-addr %s --http-addr %s %s\n' "$(date -u +%H:%M:%S)" "$grpc" "$http" "$*" >>"$log"
    "$AUDITPIPE_BIN" serve --grpc-addr "$grpc" --http-addr "$http" "$@" >>"$log" 2>&1 &
    SERVER_PID=$!
}

# wait_for_server PID HTTP_ADDR LOG PATH SECONDS: waits until http://HTTP_ADDR/PATH answers 200
# (PATH: healthz = alive, readyz = every dependency reachable). Fails with the log's tail when the
# process exits or the time runs out.
wait_for_server() {
    local pid="$1" http="$2" log="$3" path="$4" seconds="$5"
    local deadline=$((SECONDS + seconds))
    until curl -fsS "http://$http/$path" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "auditpipe serve (pid $pid) exited; the end of its log ($log):" >&2
            tail -30 "$log" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "auditpipe serve (pid $pid) did not answer http://$http/$path within ${seconds}s:" >&2
            curl -sS "http://$http/$path" >&2 || true
            tail -30 "$log" >&2
            return 1
        fi
        sleep 0.25
    done
}

# stop_server PID: SIGTERM (graceful: the sink commits what it stored, the group is left), then
# SIGKILL after 30 s.
stop_server() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "auditpipe serve (pid $pid) did not stop within 30 s of SIGTERM: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
}
