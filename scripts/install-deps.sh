#!/usr/bin/env bash
# Installs every Debian package Image Market needs to build, run and test.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git subversion ca-certificates curl openssl \
  libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev \
  libtomlplusplus-dev libcli11-dev libsodium-dev \
  libsoci-dev libsqlite3-dev libpq-dev sqlite3 \
  catch2 libyaml-cpp-dev \
  postgresql-15 postgresql-contrib \
  buildah runc slirp4netns iproute2 fuse-overlayfs uidmap docker-registry busybox-static \
  apache2-utils \
  wrk chromium fonts-wqy-microhei \
  clang-16 libclang-rt-16-dev debootstrap binutils
