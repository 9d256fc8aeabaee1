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
