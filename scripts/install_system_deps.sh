#!/usr/bin/env bash
# Install the offline speech engines the teaching corpus is built from (and the book's MathJax).
#
# Idempotent and non-interactive: safe to run twice, in CI or on a fresh
# Debian/Ubuntu machine (as root, or with sudo available).
#   espeak-ng          formant synthesiser, also drives the MBROLA diphone voices
#   mbrola + voices    diphone voices us1, us2, us3, en1 (Debian contrib/non-free)
#   flite              voices slt, rms, awb, kal16 (flite1-... voices are built in)
#   festival + festvox diphone/HTS voices
#   sox                handy for listening and format checks (optional)
#   libjs-mathjax      MathJax served from the built book itself, so equations render offline
#
# Usage: bash scripts/install_system_deps.sh
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# MBROLA voices live in Debian's contrib and non-free sections. We add them in a
# separate sources file so that the distribution's own files stay untouched.
SRC=/etc/apt/sources.list.d/udiffse-contrib-nonfree.sources
if [ -r /etc/os-release ]; then . /etc/os-release; fi
if [ "${ID:-}" = "debian" ]; then
    CODENAME="${VERSION_CODENAME:-bookworm}"
    # apt refuses two entries for one URI with different Signed-By values, so we
    # use the same keyring as the distribution's own deb822 sources file.
    KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        echo "Types: deb"
        echo "URIs: http://deb.debian.org/debian"
        echo "Suites: ${CODENAME}"
        echo "Components: contrib non-free"
        if [ -f "$KEYRING" ]; then echo "Signed-By: $KEYRING"; fi
    } > /tmp/udiffse-contrib-nonfree.sources
    if ! cmp -s /tmp/udiffse-contrib-nonfree.sources "$SRC"; then
        $SUDO cp /tmp/udiffse-contrib-nonfree.sources "$SRC"
        echo "wrote $SRC (contrib non-free for the mbrola voices)"
    fi
    # an earlier version of this script wrote a one-line .list file: remove it
    $SUDO rm -f /etc/apt/sources.list.d/udiffse-contrib-nonfree.list
fi
if [ "${ID:-}" = "ubuntu" ]; then
    # on Ubuntu the mbrola voices are in multiverse
    $SUDO apt-get install -y -q software-properties-common >/dev/null || true
    $SUDO add-apt-repository -y multiverse >/dev/null || true
fi

$SUDO apt-get update -q

REQUIRED="espeak-ng flite festival mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 libjs-mathjax"
OPTIONAL="festvox-kallpc16k festvox-rablpc16k festvox-us-slt-hts festvox-don festvox-ellpc11k sox"
$SUDO apt-get install -y -q --no-install-recommends $REQUIRED
for p in $OPTIONAL; do
    $SUDO apt-get install -y -q --no-install-recommends "$p" || echo "optional package $p not available, skipped"
done

echo "installed: $(command -v espeak-ng) $(command -v flite) $(command -v festival) $(command -v mbrola)"
