# Shared by scripts/dev.sh and scripts/test.sh: install what Convene needs
# from Debian's packages when it is missing.

# ensure_pkg CMD PACKAGE: install PACKAGE when CMD is not on PATH.
ensure_pkg() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo ">> $cmd not found: installing Debian package $pkg" >&2
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "${CONVENE_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    export CONVENE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  command -v "$cmd" >/dev/null 2>&1 || { echo "!! installing $pkg did not provide $cmd" >&2; return 1; }
}

ensure_go() {
  command -v go >/dev/null 2>&1 && return 0
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH" && return 0
  echo "!! Go is not installed: install Go 1.26 (https://go.dev/doc/install) and run this again" >&2
  return 1
}
