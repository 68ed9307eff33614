#!/bin/sh
# Entrypoint of a node of the compose testnet (compose.yaml), in the Dockerfile's "testnet"
# image. Argument: "bootstrap" or "peer".
#
# On its first start a node initializes its data dir (a volume) for the swarm in
# ALLFORONE_SWARM. The bootstrap node writes its peer ID to the shared volume; every other
# node waits for that ID and bootstraps from the bootstrap node by its service name.
set -eu
role=${1:-peer}
data=${ALLFORONE_PATH:-/data}
swarm=${ALLFORONE_SWARM:-testnet}
boot_host=${BOOTSTRAP_HOST:-boot}
id_file=${TESTNET_SHARED:-/shared}/bootstrap.id

if [ ! -f "$data/identity.key" ]; then
	allforone --data "$data" --json init --swarm "$swarm" --listen /ip4/0.0.0.0/tcp/4501 \
		--dht-mode server >"$data/init.json"
fi

case "$role" in
bootstrap)
	sed -n 's/.*"peer_id": *"\([^"]*\)".*/\1/p' "$data/init.json" >"$id_file.tmp"
	mv "$id_file.tmp" "$id_file"
	exec allforone --data "$data" daemon --testnet-mode
	;;
peer)
	tries=0
	until [ -s "$id_file" ]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 120 ]; then
			echo "testnet-node: no bootstrap peer ID in $id_file after 120s: is the $boot_host service up?" >&2
			exit 1
		fi
		sleep 1
	done
	exec allforone --data "$data" daemon --testnet-mode \
		--bootstrap "/dns4/$boot_host/tcp/4501/p2p/$(cat "$id_file")"
	;;
*)
	echo "testnet-node: unknown role \"$role\": use bootstrap or peer" >&2
	exit 2
	;;
esac
