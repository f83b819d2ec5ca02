# Sourced by the setup scripts: `apt_install PACKAGE…` installs Debian packages with apt-get,
# through sudo when not root.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install: $*" >&2; return 1; }
    sudo="sudo"
  fi
  echo "Installing from Debian: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}
