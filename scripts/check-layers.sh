#!/usr/bin/env bash
# The layering of docs/architecture.md, checked on the source: which top-level modules each layer
# may name through `crate::`. Exits 1 and lists every offending line when a layer reaches up.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
# check LAYER_PATH ALLOWED_REGEX [EXCLUDE_PATH]
check() {
  local dir=$1 allowed=$2 exclude=${3:-}
  local hits
  hits=$(grep -rnoE 'crate::[a-z_]+(::[a-z_]+)?' "$dir" --include='*.rs' \
    | { if [ -n "$exclude" ]; then grep -v "^$exclude"; else cat; fi; } \
    | grep -vE ":crate::($allowed)(::|$)" || true)
  if [ -n "$hits" ]; then
    echo "layer violation: $dir may only use crate::{$allowed}:" >&2
    echo "$hits" >&2
    fail=1
  fi
}

# The ground floor imports nothing else of ours.
check src/base 'base'
# The byte-faithful SIP layer knows nothing of Appendix T.
check src/sip 'sip|base'
# The oracle is a leaf: it sees only the SIP layer, the ground floor and Appendix T data, never
# the reference rewrite (`interwork`), whose assumptions it must not share.
check src/interop/verify 'base|sip|interop::(table|rules|finding|bodies|classify|registration|wellformed)|interop::verify'
# The rest of interop (table, catalogue, classifier, rewrite) does not import the oracle.
check src/interop 'base|sip|interop::[a-uw-z][a-z_]*' src/interop/verify
# Sans-IO nodes and the simulated world never import the oracle, sockets or the runner.
check src/node 'base|sip|node|interop::[a-uw-z][a-z_]*'
check src/sim 'base|sip|node|sim'
# Captures (pcapng out, pcap/pcapng in) see only the ground floor and the SIP layer.
check src/capture 'base|sip|capture'
# The socket driver runs any sans-IO node; it knows nothing of scenarios, reports or the CLI.
check src/net 'base|sip|node|net'
# A load run drives sockets and feeds the capture judge; it knows nothing of scenarios or the CLI.
check src/load 'base|sip|capture|check|interop::[a-uw-z][a-z_]*|net|node|report|load'

# No clock, sleep or socket below the drivers: the sans-IO core, the world, the oracle and the
# scenario player take time as an input.
io=$(grep -rnE 'Instant::now|SystemTime::now|thread::sleep|tokio::time::sleep|std::net::(UdpSocket|TcpStream|TcpListener)|tokio::net::' \
  src/sim src/node src/interop src/scenario --include='*.rs' || true)
if [ -n "$io" ]; then
  echo "clock, sleep or socket in the sans-IO layers:" >&2
  echo "$io" >&2
  fail=1
fi

if [ "$fail" -ne 0 ]; then
  exit 1
fi
echo "layers: ok"
