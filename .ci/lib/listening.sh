# Sourced by CI scripts. `listening_port PID LOG` waits (up to 10 s) for the server PID to
# print `listening on 127.0.0.1:PORT` into LOG and prints PORT; prints nothing if the server
# exits or never says it.
listening_port() {
    local pid=$1 log=$2 port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$port"
}
