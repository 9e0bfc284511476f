#!/usr/bin/env bash
# Run the headless Neovim specs without pytest: each spec in its own nvim, throwaway XDG dirs.
#   editors/neovim/tests/run.sh [spec ...]      (default: every tests/spec/*_spec.lua)
# SWICTATION_TEST_ONLY=<part of a test name> runs only those tests.
# Server specs skip unless SWICTATION_TEST_PYTHON/WAV/TEXT are set; the project's test command
# (tests/editors/test_neovim.py) sets them and synthesises the speech clip.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
nvim="${NVIM_BIN:-$(command -v nvim || true)}"
[[ -n "$nvim" ]] || { echo "nvim not found (set NVIM_BIN)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_STATE_HOME="$tmp/state" XDG_CACHE_HOME="$tmp/cache"
export SWICTATION_DATA_DIR="${SWICTATION_DATA_DIR:-$tmp/swictation}"
unset NVIM NVIM_APPNAME VIMINIT MYVIMRC
specs=("$@")
((${#specs[@]})) || specs=("$here"/tests/spec/*_spec.lua)
status=0
for spec in "${specs[@]}"; do
  spec="$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")"
  (cd "$here" && "$nvim" --headless -u tests/minimal_init.lua -c "lua require('swictation_test').run([[$spec]])") || status=1
done
exit $status
