#!/usr/bin/env bash
# One command for every peer comparison: builds/updates benchmarks/.peers-venv (setup_peers.sh),
# then runs each side-by-side script and writes benchmarks/results/peers.md (plus the vocoder
# pair's own table, benchmarks/results/peers_vocos.md, summarised in peers.md).
#
#   benchmarks/peers/run_all.sh             # full run (about 20 min on a busy 2-core CPU)
#   benchmarks/peers/run_all.sh --quick     # equivalence checks + one timed round, small inputs
#
# Threads: THREADS (default 1: one core is left to whatever else runs). The f5 and matcha pairs
# run twice: a memory pass with MALLOC_MMAP_THRESHOLD_ fixed, then the timing pass without it,
# which writes the report with the memory pass's peaks merged in (benchmarks/peers/measure.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/benchmarks/.peers-venv}"
OUT="${PEERS_OUT:-$ROOT/benchmarks/results/peers.md}"
VOCOS_OUT="$(dirname "$OUT")/peers_vocos.md"
THREADS="${THREADS:-1}"

F5_ARGS=(--rounds 3)
MATCHA_ARGS=(--rounds 3)
VOCOS_ARGS=(--rounds 5)
if [[ "${1:-}" == "--quick" ]]; then
	F5_ARGS=(--rounds 1 --shapes tiny)
	MATCHA_ARGS=(--rounds 1)
	VOCOS_ARGS=(--quick)
fi

PEERS_VENV="$VENV" "$ROOT/benchmarks/peers/setup_peers.sh"

export OMP_NUM_THREADS="$THREADS"
cd "$ROOT"
PY="$VENV/bin/python"
MEM="$(mktemp -d)"
trap 'rm -rf "$MEM"' EXIT
MALLOC_MMAP_THRESHOLD_=131072 "$PY" -m benchmarks.peers.f5_side_by_side "${F5_ARGS[@]}" \
	--threads "$THREADS" --memory-json "$MEM/f5.json"
"$PY" -m benchmarks.peers.f5_side_by_side "${F5_ARGS[@]}" --threads "$THREADS" \
	--memory-json "$MEM/f5.json" --out "$OUT"
MALLOC_MMAP_THRESHOLD_=131072 "$PY" -m benchmarks.peers.matcha_side_by_side "${MATCHA_ARGS[@]}" \
	--threads "$THREADS" --memory-json "$MEM/matcha.json"
"$PY" -m benchmarks.peers.matcha_side_by_side "${MATCHA_ARGS[@]}" --threads "$THREADS" \
	--memory-json "$MEM/matcha.json" --append "$OUT"
"$PY" -m benchmarks.vocoder_speed --only vocos "${VOCOS_ARGS[@]}" --threads "$THREADS" \
	--out "$VOCOS_OUT"
{
	echo
	echo "## vocos 0.1.0 vs flowvox Vocos (same weights)"
	echo
	echo "From \`benchmarks/vocoder_speed.py --only vocos\` (full table: $(basename "$VOCOS_OUT")):"
	echo
	grep -E '^(##+ |\*\*)' "$VOCOS_OUT" | sed -E 's/^(#+) /\1# /' || true
} >>"$OUT"
echo "run_all: wrote $OUT and $VOCOS_OUT"
