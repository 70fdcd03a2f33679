#!/bin/sh
# bench/oci-cycle.sh RUNTIME ROOT BUNDLE ID: one container's whole life through the OCI
# verbs, as a client drives them: create, start, wait until the state says stopped,
# delete. POSIX sh (dash), so the wrapper itself costs as little as it can.
set -e
rt=$1 root=$2 bundle=$3 id=$4
"$rt" --root "$root" create --bundle "$bundle" --pid-file "$root/$id.pid" "$id"
"$rt" --root "$root" start "$id"
# The client would be the reaper and get SIGCHLD; here `state` is asked until it says so.
while :; do
  s=$("$rt" --root "$root" state "$id")
  case $s in *'"stopped"'*) break ;; esac
done
"$rt" --root "$root" delete "$id"
rm -f "$root/$id.pid"
