#!/usr/bin/env bash
# The VS Code suite as scripts/test runs it: npm ci, `npm run lint` (tsc --noEmit, eslint), the
# end-to-end toolchain (cached), then `npm test` (unit tests in Node, then the e2e tests in
# code-server + headless Chromium).
#
# Environment:
#   SWICTATION_PYTHON       the server's Python (default: <repo>/.venv/bin/python)
#   SWICTATION_E2E_CACHE    where Node 24 and code-server are cached (default: <repo>/.cache/vscode-e2e)
#   SWICTATION_TEST_ARTIFACTS  screenshots and the extension log (default: <repo>/test-artifacts)
# Needs Debian's chromium, chromium-driver, libkrb5-dev and build-essential for the e2e tests
# (pulseaudio, pulseaudio-utils for the microphone test); without them those tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== npm ci (editors/vscode)"
npm ci --no-audit --no-fund

echo "== npm run lint (tsc --noEmit, eslint)"
npm run lint

echo "== VS Code e2e toolchain"
if toolchain_env=$(scripts/install-e2e-toolchain.sh); then
  eval "$toolchain_env"
  # The toolchain is here: a missing piece now is a failure, not a skip.
  export SWICTATION_E2E_REQUIRED="${SWICTATION_E2E_REQUIRED:-1}"
else
  echo "VS Code e2e toolchain unavailable: the end-to-end tests will skip" >&2
fi

echo "== npm test (editors/vscode)"
npm test
