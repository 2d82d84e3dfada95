# Shared by scripts/dev.sh and scripts/test.sh: install what Convene needs
# from Debian's packages when it is missing.

# ensure_pkg CMD PACKAGE: install PACKAGE when CMD is not on PATH.
ensure_pkg() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo ">> $cmd not found: installing Debian package $pkg" >&2
  apt_install "$pkg"
  command -v "$cmd" >/dev/null 2>&1 || { echo "!! installing $pkg did not provide $cmd" >&2; return 1; }
}

# ensure_deb PACKAGE...: install the Debian packages that are not installed,
# for packages that provide no command to look for (fonts, data).
ensure_deb() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  echo ">> installing Debian package(s) ${missing[*]}" >&2
  apt_install "${missing[@]}"
}

# apt_install PACKAGE...: apt-get install, after one apt-get update per run.
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "${CONVENE_APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    export CONVENE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_axe: install the npm package axe-core (the accessibility checker the
# browser tests of the participant pages inject) into var/npm when it is
# missing, and export its path as CONVENE_AXE.
ensure_axe() {
  local axe=$PWD/var/npm/node_modules/axe-core/axe.min.js
  if [ ! -f "$axe" ]; then
    ensure_pkg npm npm
    echo ">> installing axe-core into var/npm" >&2
    npm install --prefix var/npm --no-save --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null
    [ -f "$axe" ] || { echo "!! installing axe-core did not provide $axe" >&2; return 1; }
  fi
  export CONVENE_AXE=$axe
}

ensure_go() {
  command -v go >/dev/null 2>&1 && return 0
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH" && return 0
  echo "!! Go is not installed: install Go 1.26 (https://go.dev/doc/install) and run this again" >&2
  return 1
}
