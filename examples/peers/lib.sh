# Shared by the benchmark scripts in this folder (sourced, not run).

# wait_listening ADDR LOG PID [TRIES]: waits until the server PID writes
# `listening on ADDR` into LOG, checking every 50 ms up to TRIES times (default 100).
# Returns 1 if it did not, or if the process ended first.
wait_listening() {
    local addr=$1 log=$2 pid=$3 tries=${4:-100}
    for _ in $(seq "$tries"); do
        grep -qF "listening on $addr" "$log" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# test_cert DIR: a self-signed certificate for localhost and 127.0.0.1 (DIR/cert.pem,
# DIR/key.pem), exported as TLS_CERT and TLS_KEY.
test_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -addext basicConstraints=critical,CA:FALSE -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
    export TLS_CERT=$1/cert.pem TLS_KEY=$1/key.pem
}
