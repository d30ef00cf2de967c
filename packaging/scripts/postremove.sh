#!/bin/sh
# statelite: after removal (dpkg: postrm; rpm: %postun). The state in /var/lib/statelite
# and the tables in /etc/statelite/tables are the cluster's: they stay, even on purge.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi
exit 0
