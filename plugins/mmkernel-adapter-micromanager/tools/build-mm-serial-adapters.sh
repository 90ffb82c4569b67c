#!/usr/bin/env bash
# Builds Micro-Manager's SerialManager (the C++ serial ports, on boost::asio) and ThorlabsSC10 (a shutter
# controller speaking a short text protocol over its serial port) device adapters, for device interface
# version 75 (the one pymmcore 12.5.1.75.0 loads), from a git copy of micro-manager/mmCoreAndDevices, for the
# bridge's tests of C++ serial ports (tests/bridge/test_cpp_serial_ports.py, MMKERNEL_TEST_MM_ADAPTERS=OUT_DIR/lib).
# Nothing of Micro-Manager's source is kept: the needed subtrees are archived into a temporary folder,
# compiled, and removed. Files already in OUT_DIR/lib other than the two built here are left alone, so the
# DemoCamera/Utilities build (build-mm-demo-adapters.sh) may share the folder.
#
#   plugins/mmkernel-adapter-micromanager/tools/build-mm-serial-adapters.sh MMCOREANDDEVICES_GIT_DIR [OUT_DIR]
#
# MMCOREANDDEVICES_GIT_DIR: a git dir (bare or not) of the public micro-manager/mmCoreAndDevices repository.
# OUT_DIR (default $HOME/.cache/mmkernel-mm-adapters): gets lib/libmmgr_dal_SerialManager.so.0 and
#   lib/libmmgr_dal_ThorLabsSC10.so.0.
# MM_CORE_REV: commit to build (default HEAD); it must have DEVICE_INTERFACE_VERSION 75 in MMDevice/MMDevice.h.
# Needs g++ and boost's headers and its thread/system libraries (Debian: apt-get install -y g++ libboost-dev
# libboost-thread-dev libboost-system-dev; SerialManager uses asio, thread, bind, format, lexical_cast and
# date_time's header-only posix_time), and git. Takes about a minute on two cores.
set -euo pipefail

mirror=${1:-${MM_CORE_MIRROR:-}}
out=${2:-${MMPEER_DIR:-${HOME}/.cache/mmkernel-mm-adapters}}
rev=${MM_CORE_REV:-HEAD}
want_div=75

if [ -z "$mirror" ] || ! git --git-dir="$mirror" rev-parse --verify -q "$rev^{commit}" >/dev/null; then
  echo "usage: $0 MMCOREANDDEVICES_GIT_DIR [OUT_DIR]  (or MM_CORE_MIRROR / MMPEER_DIR)" >&2; exit 2
fi
command -v g++ >/dev/null || { echo "g++ not found (apt-get install -y g++)" >&2; exit 2; }
echo '#include <boost/asio/serial_port.hpp>' | g++ -x c++ -fsyntax-only - 2>/dev/null \
  || { echo "boost headers not found (apt-get install -y libboost-dev libboost-thread-dev libboost-system-dev)" >&2; exit 2; }

commit=$(git --git-dir="$mirror" rev-parse "$rev^{commit}")
div=$(git --git-dir="$mirror" show "$commit:MMDevice/MMDevice.h" | sed -n 's/^#define DEVICE_INTERFACE_VERSION \([0-9]*\).*/\1/p')
if [ "$div" != "$want_div" ]; then
  echo "commit $commit has DEVICE_INTERFACE_VERSION '$div', need $want_div (set MM_CORE_REV)" >&2; exit 3
fi

mkdir -p "$out/lib"
out=$(cd "$out" && pwd)
src=$(mktemp -d -t mmpeer-serial-src.XXXXXX)
trap 'rm -rf "$src"' EXIT

# Archive only the needed subtrees (archiving the whole tree trips over absent large blobs in a snapshot).
for d in MMDevice DeviceAdapters/SerialManager DeviceAdapters/ThorlabsSC10; do
  git --git-dir="$mirror" archive --format=tar --prefix="$d/" "$commit:$d" | tar -x -C "$src"
done

cxxflags=(-std=c++17 -O2 -fPIC -DNDEBUG -pthread -fvisibility=default -w -I"$src/MMDevice")
obj="$src/obj"; mkdir -p "$obj/MMDevice"
pids=()
for f in DeviceUtils MMDevice ModuleInterface Property; do
  g++ "${cxxflags[@]}" -c "$src/MMDevice/$f.cpp" -o "$obj/MMDevice/$f.o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

build() {  # build MODULE FOLDER [LIBS...]: every .cpp of DeviceAdapters/FOLDER into lib/libmmgr_dal_MODULE.so.0
  local module=$1 folder=$2; shift 2; mkdir -p "$obj/$module"
  local f
  for f in "$src/DeviceAdapters/$folder"/*.cpp; do
    g++ "${cxxflags[@]}" -c "$f" -o "$obj/$module/$(basename "${f%.cpp}").o"
  done
  g++ -shared -pthread -Wl,-soname,"libmmgr_dal_$module.so.0" -o "$out/lib/libmmgr_dal_$module.so.0" \
      "$obj/$module"/*.o "$obj/MMDevice"/*.o "$@"
}
build SerialManager SerialManager -lboost_thread -lboost_system &
sm=$!
build ThorLabsSC10 ThorlabsSC10
wait "$sm"

echo "built SerialManager and ThorLabsSC10 from mmCoreAndDevices $commit (DIV $div) into $out/lib"
