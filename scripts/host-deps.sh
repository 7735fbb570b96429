#!/usr/bin/env bash
# Installs the Debian packages Cairn needs on the build host, only those that are
# missing, and says what it does. Sourced by scripts/demo and scripts/test.
#
#   qemu-system-x86  boots images (cairn run, boot tests)
#   qemu-utils       qemu-img: the run disk is a qcow2 overlay on disk.img
#   ovmf             UEFI firmware for QEMU
#   squashfs-tools   mksquashfs: the read-only bank filesystem
#   e2fsprogs        mkfs.ext4: the data partition
#   apt, dpkg        apt-get download + dpkg-deb -x fetch the kernel and systemd-boot
#                    into a cache without installing them on the host
#   gcc, libc6-dev   the linker for the static binaries
#   redis-server     a real dynamic program bundled by the redis boot test
#   redis-tools      redis-cli: the redis boot test talks to it through a forwarded port
#   bubblewrap       bwrap: the baseline of cairn-bench's sandbox start benchmark
#   runit            svlogd: the baseline of cairn-bench's logging benchmark
#   ca-certificates  the host's CA bundle, the default CA of a syslog+tls remote
#
# The tests need a few more (cairn_test_deps):
#
#   dosfstools       fsck.fat: every ESP the tests make must pass `fsck.fat -n`
#   mtools           mdir, mtype: an independent reader of the FAT volumes
#   curl             the control API as any TLS client sees it (mutual TLS)

set -euo pipefail

cairn_say() { printf '==> %s\n' "$*" >&2; }

cairn_need_root_for_apt() {
    if [ "$(id -u)" -ne 0 ]; then
        cairn_say "missing packages: $*"
        cairn_say "run as root, or install them with: sudo apt-get install $*"
        exit 1
    fi
}

cairn_apt_update_once() {
    if [ -z "${CAIRN_APT_UPDATED:-}" ]; then
        cairn_say "refreshing the apt package lists (apt-get update)"
        apt-get update -qq >/dev/null
        CAIRN_APT_UPDATED=1
    fi
}

# cairn_missing_packages PKG...: prints those of PKG that are not installed.
cairn_missing_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# cairn_install_packages PKG...: installs those of PKG that are not installed,
# then checks again: installing one package can remove another that conflicts
# with it (a newer qemu-utils from backports goes when Debian's qemu-system-x86
# comes in), and a second pass puts the removed one back at a matching version.
cairn_install_packages() {
    cairn_install_missing "$@"
    local still
    still=$(cairn_missing_packages "$@")
    if [ -n "$still" ]; then
        cairn_say "installed packages removed others; installing again: $(echo $still)"
        # shellcheck disable=SC2086
        cairn_install_missing $still
        still=$(cairn_missing_packages "$@")
        if [ -n "$still" ]; then
            cairn_say "could not install: $(echo $still) (see /tmp/cairn-apt.log)"
            exit 1
        fi
    fi
}

cairn_install_missing() {
    local missing=()
    local pkg
    while IFS= read -r pkg; do
        [ -n "$pkg" ] && missing+=("$pkg")
    done < <(cairn_missing_packages "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    cairn_need_root_for_apt "${missing[@]}"
    cairn_apt_update_once
    cairn_say "installing host packages: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/cairn-apt.log 2>&1; then
        # A host that carries a newer qemu-utils than its qemu-system-x86 (from
        # backports) cannot install both at the newest versions: install the
        # QEMU packages at one common version instead.
        local qemu_version
        qemu_version=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
        cairn_say "retrying with the QEMU packages at one version ($qemu_version)"
        local pinned=()
        for pkg in "${missing[@]}"; do
            case "$pkg" in
                qemu-system-x86|qemu-utils|qemu-system-common|qemu-block-extra) pinned+=("$pkg=$qemu_version") ;;
                *) pinned+=("$pkg") ;;
            esac
        done
        case " ${pinned[*]} " in
            *" qemu-utils="*) ;;
            *) pinned+=("qemu-utils=$qemu_version") ;;
        esac
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --allow-downgrades \
            "${pinned[@]}" "qemu-block-extra=$qemu_version" >/tmp/cairn-apt.log 2>&1 || {
            cat /tmp/cairn-apt.log >&2
            cairn_say "apt-get install failed (log above)"
            exit 1
        }
    fi
}

cairn_host_deps() {
    cairn_say "checking host packages"
    cairn_install_packages qemu-system-x86 qemu-utils ovmf squashfs-tools e2fsprogs apt dpkg gcc libc6-dev \
        redis-server redis-tools bubblewrap runit ca-certificates
    # apt-get download needs package lists; a fresh machine may have none.
    if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            cairn_apt_update_once
        else
            cairn_say "apt does not know linux-image-cloud-amd64: run 'sudo apt-get update'"
            exit 1
        fi
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        cairn_say "cargo is missing: install a Rust toolchain, 1.89 or newer for the test suite (the binaries alone need 1.87), for example with rustup"
        exit 1
    fi
}

cairn_test_deps() {
    cairn_host_deps
    cairn_say "checking the packages the tests use"
    cairn_install_packages dosfstools mtools curl
}
