#!/bin/sh
# A stand-in for Docker's debian:bookworm-slim, for machines that cannot pull images (no
# registry) but reach Debian's archive: debootstrap a minimal Debian 12, leave out what the
# slim image leaves out, import it as debian:bookworm-slim. With Docker and a registry you
# never need this: `FROM debian:bookworm-slim` pulls the real one.
#
#   docker/base/make-base.sh podman [global podman options...]
#
# Needs root and debootstrap (apt-get install debootstrap); about 35 s and 80 MB.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 podman|docker [engine options...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/bookworm-slim.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.log" 2>&1 \
  || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; echo "debootstrap failed (log above)" >&2; exit 1; }
rm -f "$root.log"

# apt sources and cleaning as in Docker's image; dpkg leaves docs, man pages and locales out
rm -f "$root/etc/apt/sources.list"
cp "$here/debian.sources" "$root/etc/apt/sources.list.d/debian.sources"
cp "$here/apt-docker-clean" "$root/etc/apt/apt.conf.d/docker-clean"
cp "$here/slim.dpkg.cfg" "$root/etc/dpkg/dpkg.cfg.d/docker"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/info/* "$root"/usr/share/man/* "$root"/usr/share/groff/* \
       "$root"/usr/share/lintian/overrides/* "$root"/usr/share/linda
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -depth -mindepth 1 -type d -empty -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

engine=$1; shift
tar -C "$root" -c . | "$engine" "$@" import --change 'CMD ["bash"]' - docker.io/library/debian:bookworm-slim >/dev/null
echo "debian:bookworm-slim: built with debootstrap ($(du -sh "$root" | cut -f1))"
