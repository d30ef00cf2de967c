#!/bin/sh
# statelite: after install or upgrade (dpkg: postinst configure; rpm: %post).
# The service is not enabled or started here: it takes ports 2049, 69, 67 and 111 and
# serves the tables of /etc/statelite/tables, so the admin starts it once they are in
# place (systemctl enable --now statelite). An upgrade restarts a running server (its
# handles survive restarts: docs/guarantees.md).
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	systemctl try-restart statelite.service || true
fi
exit 0
