#!/usr/bin/env bash
# Runs an aarch64 binary under qemu user emulation. KILN_QEMU_CPU picks the CPU model:
# max (dotprod + i8mm) or neoverse-n1 (dotprod only).
exec qemu-aarch64-static -cpu "${KILN_QEMU_CPU:-max}" -L /usr/aarch64-linux-gnu "$@"
