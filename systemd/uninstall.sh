#!/usr/bin/env bash
# Remove the dialogd service installed by systemd/install.sh.
#
#   sudo bash systemd/uninstall.sh            # keeps /etc/dialogd and /var/lib/dialogd
#   sudo bash systemd/uninstall.sh --purge    # removes them too (config, models, KV cache)
#
# Debian packages that install.sh added (python3-venv, espeak-ng, mosquitto, ...) stay:
# other software may use them. Remove them with apt if you wish.
set -euo pipefail

PREFIX=/opt/dialogd
CONF_DIR=/etc/dialogd
STATE_DIR=/var/lib/dialogd
UNIT=dialogd.service
UNIT_DST=/etc/systemd/system/$UNIT
SERVICE_USER=dialogd

purge=0

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<'EOF'
Usage: sudo bash systemd/uninstall.sh [--purge]

Stops and disables dialogd.service and removes the unit, /opt/dialogd and the system
user 'dialogd'. Your configuration (/etc/dialogd) and data (/var/lib/dialogd: models,
KV cache) are kept unless --purge is given; --purge also removes local unit drop-ins
(/etc/systemd/system/dialogd.service.d).
EOF
}

while (($#)); do
    case $1 in
    --purge) purge=1 ;;
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

have_systemd=0
[[ -d /run/systemd/system ]] && have_systemd=1

say "Service"
if [[ -e $UNIT_DST ]]; then
    if ((have_systemd)); then
        # Stop waits for the drain (TimeoutStopSec=).
        systemctl disable --now "$UNIT" || note "could not stop/disable cleanly; continuing"
    else
        systemctl disable "$UNIT" || true
    fi
    rm -f "$UNIT_DST"
    note "removed $UNIT_DST"
else
    note "no $UNIT_DST"
fi
if ((purge)) && [[ -d $UNIT_DST.d ]]; then
    rm -rf "$UNIT_DST.d"
    note "removed drop-ins $UNIT_DST.d"
fi
if ((have_systemd)); then
    systemctl daemon-reload
    systemctl reset-failed "$UNIT" 2>/dev/null || true
fi

say "Program"
if [[ -d $PREFIX ]]; then
    rm -rf "$PREFIX"
    note "removed $PREFIX"
else
    note "no $PREFIX"
fi

say "Data and configuration"
if ((purge)); then
    rm -rf "$CONF_DIR" "$STATE_DIR"
    note "removed $CONF_DIR and $STATE_DIR"
else
    # The user is about to go; its id may be reused by some future system user. Hand what
    # we keep to root so that user can't read the config (MQTT password) or the data.
    for path in "$STATE_DIR" "$CONF_DIR/config.toml" "$CONF_DIR/config.toml.dist"; do
        if [[ -e $path ]]; then
            chown -R -h root:root "$path"
        fi
    done
    for path in "$CONF_DIR" "$STATE_DIR"; do
        if [[ -e $path ]]; then
            note "kept $path (now owned by root); --purge removes it"
        fi
    done
fi

say "System user '$SERVICE_USER'"
if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    if ! userdel "$SERVICE_USER"; then
        die "userdel failed: is a process still running as $SERVICE_USER? (ps -u $SERVICE_USER)"
    fi
    note "removed user $SERVICE_USER"
else
    note "no user $SERVICE_USER"
fi
# userdel removes the user's own group only if USERGROUPS_ENAB is set in login.defs.
if getent group "$SERVICE_USER" >/dev/null; then
    groupdel "$SERVICE_USER" && note "removed group $SERVICE_USER"
fi

say "Done"
