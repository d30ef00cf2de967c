#!/bin/sh
# statelite: before removal (dpkg: prerm remove; rpm: %preun with 0 left). An upgrade
# (dpkg: prerm upgrade; rpm: %preun 1) leaves the server running for postinstall.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl --no-reload disable --now statelite.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
