# Sourced by the CI scripts that test the demo. `start_demo RUNTIME LOGFILE [DEMO FLAGS...]`
# builds the demo (release; respects CARGO_TARGET_DIR), starts it on a free loopback port
# with the extra flags (TLS ones, for instance), waits until it accepts connections, and
# sets `port` and `server`; an EXIT trap always stops it.
#
# `make_test_cert DIR` writes DIR/cert.pem and DIR/key.pem: a self-signed certificate for
# localhost and 127.0.0.1, made by openssl for this run.
make_test_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -addext basicConstraints=critical,CA:FALSE \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}

start_demo() {
    local runtime=$1 log=$2 repo bin
    shift 2
    repo=$(pwd)
    timeout 280 cargo build --release -p wirelane-examples --bin demo
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/demo"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$bin" --addr "127.0.0.1:$port" --runtime "$runtime" "$@" >"$log" 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$server" 2>/dev/null || { cat "$log"; echo "demo exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "demo did not start listening on $port" >&2
    exit 1
}

# `free_port` prints a loopback port that was free a moment ago (the kernel's choice).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `spawn_demo RUNTIME LOGFILE [DEMO ARGS...]` is start_demo for scripts that run several
# servers: it builds the demo, starts one more on a free loopback port with the extra
# arguments, waits until it accepts connections, sets `port` and `server`, and appends the
# pid to `demo_pids`. It sets no trap, so that it does not replace the caller's, which must
# stop every pid in `demo_pids` (and whatever else it started) itself.
spawn_demo() {
    local runtime=$1 log=$2 repo bin
    shift 2
    repo=$(pwd)
    timeout 280 cargo build --release -p wirelane-examples --bin demo
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/demo"
    port=$(free_port)
    "$bin" --addr "127.0.0.1:$port" --runtime "$runtime" "$@" >"$log" 2>&1 &
    server=$!
    demo_pids+=("$server")
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$server" 2>/dev/null || { cat "$log"; echo "demo exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "demo did not start listening on $port" >&2
    exit 1
}

# `spawn_redis LOGFILE` starts a throwaway redis-server on a free loopback port, without
# persistence (nothing of a test run should outlive it), waits until it answers PING, and
# sets `redis_port` and `redis_pid`. Like spawn_demo it sets no trap: the caller stops it.
spawn_redis() {
    local log=$1 reply
    redis_port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
        >"$log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
        # A raw PING: redis-cli is not always installed beside the server.
        reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$redis_port" && printf 'PING\r\n' >&3 &&
            timeout 1 head -c 5 <&3) 2>/dev/null || true)
        if [ "$reply" = "+PONG" ]; then return 0; fi
        kill -0 "$redis_pid" 2>/dev/null || { cat "$log"; echo "redis-server exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "redis-server did not answer on $redis_port" >&2
    exit 1
}
