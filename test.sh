#!/usr/bin/env bash
# Runs every test: unit, integration (real server + embedded etcd, gophercloud
# and the openstack CLI), a short fuzz pass over request bodies.
set -euo pipefail
cd "$(dirname "$0")"
# Real clients and daemons the tests drive; installed when missing (needs root).
need=()
command -v openstack >/dev/null 2>&1 || need+=(python3-openstackclient)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v dhclient >/dev/null 2>&1 || need+=(isc-dhcp-client)
command -v nft >/dev/null 2>&1 || need+=(nftables)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
command -v keystone-manage >/dev/null 2>&1 || need+=(keystone)
command -v ovn-northd >/dev/null 2>&1 || need+=(ovn-central)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing ${need[*]}: run as root or apt-get install them"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
gofmt_out=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$gofmt_out" ]; then echo "gofmt needed:"; echo "$gofmt_out"; exit 1; fi
go vet ./...
go test -count=1 -timeout 20m ./...
# Fuzz request bodies briefly: no input may produce a 5xx.
go test -run '^$' -fuzz FuzzCreateBodies -fuzztime "${SPINEL_FUZZTIME:-20s}" ./internal/apiserver/
