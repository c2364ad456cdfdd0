#!/usr/bin/env bash
# Install (or upgrade) dialogd as a systemd service on Raspberry Pi OS / Debian 12.
#
#   sudo bash systemd/install.sh [--no-mosquitto] [--no-models] [--no-start]
#
# Run it from a checkout; run it again after `git pull` to upgrade. It is idempotent:
# it never overwrites /etc/dialogd/config.toml and never re-downloads a verified model.
# See systemd/README.md for what goes where and why.
set -euo pipefail

PREFIX=/opt/dialogd
VENV=$PREFIX/venv
CONF_DIR=/etc/dialogd
CONF=$CONF_DIR/config.toml
STATE_DIR=/var/lib/dialogd
UNIT=dialogd.service
UNIT_DST=/etc/systemd/system/$UNIT
SERVICE_USER=dialogd
# Debian's interpreter, not whatever `python3` comes first in root's PATH (pyenv, conda):
# the service user must be able to run it, and python3-venv is installed for it.
PYTHON=/usr/bin/python3

with_mosquitto=1
fetch_models=1
start_service=1

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<'EOF'
Usage: sudo bash systemd/install.sh [OPTIONS]

Installs dialogd from this checkout as the systemd service dialogd.service:
  /opt/dialogd/venv                    the program (a Python venv)
  /etc/dialogd/config.toml             your configuration (created once, never overwritten)
  /var/lib/dialogd/models, state       models and the KV cache (the only writable place)
  /etc/systemd/system/dialogd.service  the unit

Options:
  --no-mosquitto  don't install mosquitto (you set [mqtt] host to an existing broker)
  --no-models     don't run `dialogd models fetch` (you copy a GGUF into
                  /var/lib/dialogd/models yourself)
  --no-start      install and enable, but don't (re)start the service now
  -h, --help      this text
EOF
}

while (($#)); do
    case $1 in
    --no-mosquitto) with_mosquitto=0 ;;
    --no-models) fetch_models=0 ;;
    --no-start) start_service=0 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown option: $1"
        ;;
    esac
    shift
done

[[ $(id -u) -eq 0 ]] || die "must run as root: sudo bash $0"

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
for f in pyproject.toml config.toml daemon/__init__.py systemd/$UNIT systemd/README.md; do
    [[ -f $SRC/$f ]] || die "$SRC/$f is missing: run this script from a dialogd checkout"
done
command -v apt-get >/dev/null || die "apt-get not found: this script is for Debian / Raspberry Pi OS"

# systemd running as PID 1? (Not in a chroot or while building an image: then the service
# is only enabled, and starts at the next boot.)
have_systemd=0
[[ -d /run/systemd/system ]] && have_systemd=1

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]; }

# ---------------------------------------------------------------------------------------
say "Debian packages"
# python3-dev, build-essential, cmake: pip builds llama-cpp-python (llama.cpp) from source
#   on aarch64 (PyPI has no wheel for it); that takes 10-30 minutes on a Pi 4, once.
# espeak-ng, alsa-utils: speech output (pyttsx3 drives libespeak-ng and plays with aplay).
# libportaudio2: microphone input (sounddevice) for Vosk.
pkgs=(python3 python3-venv python3-dev python3-pip build-essential cmake
    espeak-ng alsa-utils libportaudio2 ca-certificates)
mosquitto_was_installed=0
mosquitto_was_enabled=0
if ((with_mosquitto)); then
    # The daemon starts its own private mosquitto on 127.0.0.1 when [mqtt] host is unset;
    # it needs only the binary. mosquitto-clients gives mosquitto_pub/sub for trying it.
    pkgs+=(mosquitto mosquitto-clients)
    installed mosquitto && mosquitto_was_installed=1
    if ((have_systemd)) && systemctl is-enabled --quiet mosquitto.service 2>/dev/null; then
        mosquitto_was_enabled=1
    fi
fi
missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
    note "installing: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
    note "all present"
fi

if ((with_mosquitto)); then
    if ((!mosquitto_was_installed)); then
        # Debian enables and starts a system-wide broker on 127.0.0.1:1883 when the package
        # is installed. Nobody asked for that one: it would only take the port that
        # dialogd's private broker wants. Installed by us, so disabled by us.
        note "mosquitto was installed for dialogd's private broker; disabling its system service"
        if ((have_systemd)); then
            systemctl disable --now mosquitto.service
        else
            systemctl disable mosquitto.service
        fi
    elif ((mosquitto_was_enabled)); then
        # The user runs a broker of their own: leave it alone, but say how to share it.
        note "mosquitto's own system service is enabled: left as it is."
        note "If it listens on 127.0.0.1:1883, point dialogd at it instead of a private broker:"
        note "set  host = \"127.0.0.1\"  under [mqtt] in $CONF."
    fi
fi

# ---------------------------------------------------------------------------------------
say "System user '$SERVICE_USER'"
if ! getent group "$SERVICE_USER" >/dev/null; then
    groupadd --system "$SERVICE_USER"
fi
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    usermod --append --groups dialout,audio "$SERVICE_USER"
    note "exists; groups: $(id -nG "$SERVICE_USER")"
else
    useradd --system --gid "$SERVICE_USER" --groups dialout,audio \
        --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin \
        --comment "dialogd dialogue daemon" "$SERVICE_USER"
    note "created; groups: $(id -nG "$SERVICE_USER")"
fi

# ---------------------------------------------------------------------------------------
say "Directories"
# Modes match the unit (ConfigurationDirectoryMode= default 0755, StateDirectoryMode=0750),
# else systemd warns or re-chmods them at every start.
install -d -m 0755 -o root -g root "$PREFIX" "$CONF_DIR"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" \
    "$STATE_DIR" "$STATE_DIR/models" "$STATE_DIR/state"
# After an uninstall without --purge the kept files belong to root or to the old user id.
find "$STATE_DIR" \( ! -user "$SERVICE_USER" -o ! -group "$SERVICE_USER" \) \
    -exec chown -h "$SERVICE_USER:$SERVICE_USER" {} +
note "$PREFIX  $CONF_DIR  $STATE_DIR/{models,state}"

# ---------------------------------------------------------------------------------------
say "Python venv $VENV"
if [[ -x $VENV/bin/python ]] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    note "existing venv is broken (Python upgraded?): recreating it"
    rm -rf "$VENV"
elif [[ -e $VENV/pyvenv.cfg ]] && ! grep -q "^home = ${PYTHON%/*}\$" "$VENV/pyvenv.cfg"; then
    note "existing venv was made with another Python than $PYTHON: recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -m venv "$VENV"
fi
# Build from a clean copy so that pip's build/ and *.egg-info don't land, owned by root,
# in the user's checkout.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude=./models --exclude=./.state \
    --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude='__pycache__' \
    -cf - . | tar -C "$tmp/src" -xf -
# Compiling llama.cpp needs ~0.5 GB per job: keep jobs within RAM on small Pis.
mem_gb=$(awk '/^MemTotal:/ { print int($2 / 1048576) }' /proc/meminfo)
jobs=$(nproc)
((mem_gb < jobs)) && jobs=$((mem_gb > 0 ? mem_gb : 1))
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$jobs}
note "pip install (the first time this compiles llama.cpp: 10-30 minutes on a Pi 4)"
"$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade "$tmp/src[mic]"
install -m 0644 -o root -g root "$SRC/systemd/README.md" "$PREFIX/README.systemd.md"
note "$("$VENV/bin/dialogd" --version)"

# ---------------------------------------------------------------------------------------
say "Configuration $CONF"
if [[ ! -e $CONF ]]; then
    install -m 0640 -o root -g "$SERVICE_USER" "$SRC/config.toml" "$CONF"
    rm -f "$CONF.dist"
    note "installed the shipped config: edit it to list your devices"
elif cmp -s "$SRC/config.toml" "$CONF"; then
    rm -f "$CONF.dist"
    note "unchanged from the shipped one"
else
    install -m 0640 -o root -g "$SERVICE_USER" "$SRC/config.toml" "$CONF.dist"
    note "kept yours. The shipped version is $CONF.dist; to see what changed:"
    note "  diff -u $CONF $CONF.dist"
fi
# Readable by the daemon, by nobody else (it may hold the MQTT password).
chown root:"$SERVICE_USER" "$CONF"
chmod 0640 "$CONF"

# The shipped config uses relative paths (models/..., .state), which the daemon resolves
# against the config file's folder. Under ProtectSystem=strict /etc is read-only, so these
# two names point into the state directory.
link_into_state() {
    local target=$2 path=$CONF_DIR/$1
    if [[ -L $path ]]; then
        if [[ $(readlink "$path") != "$target" ]]; then
            note "$path -> $(readlink "$path") (yours, left alone)"
        fi
    elif [[ -e $path ]]; then
        warn "$path is not a symlink; left alone. The daemon can only read it ($CONF_DIR is"
        warn "read-only for the service); remove it and re-run to use $target."
    else
        ln -s "$target" "$path"
        note "$path -> $target"
    fi
}
link_into_state models "$STATE_DIR/models"
link_into_state .state "$STATE_DIR/state"

# ---------------------------------------------------------------------------------------
run_as_service_user() {
    # HOME as in the unit; no pip cache: it would keep a second copy of the model.
    (cd "$STATE_DIR" && runuser -u "$SERVICE_USER" -- \
        env HOME="$STATE_DIR" PIP_NO_CACHE_DIR=1 "$@")
}
if ((fetch_models)); then
    say "Models ($STATE_DIR/models)"
    note "about 0.5 GB the first time; an interrupted download resumes"
    run_as_service_user "$VENV/bin/dialogd" models fetch --config "$CONF" \
        --dir "$STATE_DIR/models"
fi

service_active=0
((have_systemd)) && systemctl is-active --quiet "$UNIT" && service_active=1
if ((!service_active)); then
    say "Checking the configuration"
    # Not while the service runs: its own private broker would show as "port taken".
    if ! run_as_service_user "$VENV/bin/dialogd" check --config "$CONF"; then
        warn "'dialogd check' reported a problem (above); the service may not start until"
        warn "you fix $CONF. Then: sudo systemctl restart dialogd"
    fi
fi

# ---------------------------------------------------------------------------------------
say "systemd unit $UNIT_DST"
install -m 0644 -o root -g root "$SRC/systemd/$UNIT" "$UNIT_DST"
if ((have_systemd)); then
    systemctl daemon-reload
    systemctl enable "$UNIT"
    if ((start_service)); then
        note "(re)starting; loading the model takes up to a few minutes on a Pi..."
        if ! systemctl restart "$UNIT"; then
            systemctl --no-pager --full status "$UNIT" || true
            journalctl --no-pager -n 40 -u "$UNIT" || true
            die "dialogd did not start; see the log above"
        fi
        systemctl --no-pager status "$UNIT" | head -n 5 || true
    else
        note "enabled; start it with: sudo systemctl start dialogd"
    fi
else
    systemctl enable "$UNIT"
    note "systemd is not running here: enabled, it starts at the next boot"
fi

cat <<EOF

dialogd is installed.
  Follow the log:   journalctl -u dialogd -f
  Status:           systemctl status dialogd
  Configuration:    $CONF
                    devices/replies: sudo systemctl reload dialogd; other keys: restart
  Try it:           mosquitto_sub -h 127.0.0.1 -t 'dialogd/#' -v &
                    mosquitto_pub -h 127.0.0.1 -t "dialogd/\$(hostname)/text" -m "turn on the kitchen light"
  Local changes to the unit: sudo systemctl edit dialogd   (see $PREFIX/README.systemd.md)
EOF
