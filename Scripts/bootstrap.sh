#!/usr/bin/env bash
# Set up this machine for uso and build it (release).
#
# Installs the Debian packages uso needs when any is missing (a no-op when all are
# present): Open MPI, OpenBLAS, HDF5 (library and tools), zlib, libpng, libjpeg, libwebp,
# pkg-config, qemu-user (the tests run the binary on an emulated CPU without AVX), chromium
# (the tests render uso diag report's page headless and screenshot it), iproute2 (the
# multi-host tests' network namespaces), slurm-wlm and munge (a one-node Slurm cluster runs
# Cluster/uso.sbatch in the tests); and the
# Python packages the tests read and write files with (numpy, safetensors, h5py, Pillow). Then builds
# .build/release/uso. Run as root, or as a user with sudo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev hdf5-tools zlib1g-dev libpng-dev libjpeg-dev libwebp-dev pkg-config qemu-user chromium fonts-dejavu-core iproute2 slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "bootstrap: Debian packages present"
fi

# Python packages the tests use as outside tools (the safetensors package, h5py, numpy).
command -v python3 >/dev/null || { echo "bootstrap: python3 is needed for the tests' outside checks" >&2; exit 69; }
py_missing="$(python3 -c '
import importlib.util
wanted = {"numpy": "numpy", "safetensors": "safetensors", "h5py": "h5py", "PIL": "Pillow"}
print(" ".join(pkg for mod, pkg in wanted.items() if importlib.util.find_spec(mod) is None))
')"
if [ -n "$py_missing" ]; then
    echo "bootstrap: pip installing $py_missing"
    python3 -m pip install --quiet --disable-pip-version-check $py_missing 2>&1 | grep -v "Running pip as the 'root' user" || true
    python3 -c "import numpy, safetensors, h5py, PIL" || { echo "bootstrap: pip install of $py_missing failed" >&2; exit 1; }
else
    echo "bootstrap: Python packages present"
fi

# Swift's toolchain on these machines lives in /opt/swift; use it when PATH lacks swift.
if ! command -v swift >/dev/null && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (Swift 6.0 or later is needed)" >&2; exit 69; }
echo "bootstrap: building release (swift build -c release)"
log="$(mktemp)"
if swift build -c release >"$log" 2>&1; then
    tail -n 1 "$log"
    rm -f "$log"
else
    cat "$log" >&2
    echo "bootstrap: the release build failed (log above)" >&2
    exit 1
fi
echo "bootstrap: ready: .build/release/uso"
