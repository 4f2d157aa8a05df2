#!/usr/bin/env bash
# Builds the remote processor's firmware (firmware/), then the kernel that embeds it,
# makes a disk image with a known pattern, boots QEMU's riscv64 `virt` machine
# (OpenSBI, 2 harts, 256 MiB, virtio-blk + virtio-rng) with a timeout, and checks the
# result: the kernel's exit status (every check passed, the remote processor's
# included) and the sectors it wrote into the image file.
#
#   run.sh               build, run, check
#   run.sh --corrupt     the same, with one byte of the pre-filled pattern changed: the
#                        kernel's device -> memory check must fail (exit status 1)
#   run.sh --wrong-echo  the same, with firmware that answers one byte wrong: the
#                        kernel's echo check must fail (exit status 1)
#   run.sh --corrupt-core  the same, with one byte of the remote's core dump flipped
#                        before the kernel checks it: that check must fail (exit status 1)
#   run.sh --firmware-only  build the firmware image the kernel embeds, and stop
#
# Exit status: 0 pass; 1 the kernel reported a failure (a check, a panic, a trap);
# 2 the image file does not hold what the kernel wrote; 3 QEMU timed out or could not
# run; 4 usage or build error.
set -euo pipefail
cd "$(dirname "$0")"

corrupt=false
firmware_only=false
firmware_features=()
kernel_features=()
case "${1:-}" in
    "") ;;
    --corrupt) corrupt=true ;;
    --wrong-echo) firmware_features=(--features wrong-echo) ;;
    --corrupt-core) kernel_features=(--features corrupt-core) ;;
    --firmware-only) firmware_only=true ;;
    *) echo "usage: $0 [--corrupt | --wrong-echo | --corrupt-core | --firmware-only]" >&2; exit 4 ;;
esac
TIMEOUT="${QEMU_TIMEOUT:-30}"

# The patterns, as the kernel's src/pattern.rs defines them: each 512-byte sector is one
# 32-byte line 16 times.
PREFILL_FIRST=16
WRITTEN_FIRST=64
SECTORS=8
pattern() { # TAG FIRST: SECTORS sectors of TAG lines
    local s i
    for ((s = $2; s < $2 + SECTORS; s++)); do
        for ((i = 0; i < 16; i++)); do
            printf '%s sector %06d contig..\n' "$1" "$s"
        done
    done
}

command -v qemu-system-riscv64 >/dev/null || {
    echo "qemu-system-riscv64 not found (Debian: apt-get install qemu-system-misc)" >&2
    exit 4
}
# The firmware first: the kernel embeds its ELF image (src/remote.rs). Its own target
# directory, whatever CARGO_TARGET_DIR says, because that is where the kernel looks.
(cd firmware && cargo build --release --locked --target-dir target "${firmware_features[@]}") || exit 4
# The kernel embeds firmware/target/embedded.elf (src/remote.rs): copied here only when
# the image changed, so it gets a fresh mtime. The built file itself may not: when the
# firmware's features go back and forth, cargo reuses its cached build, whose file keeps
# an old mtime, and the kernel would keep embedding the previous image.
firmware_elf=firmware/target/riscv64gc-unknown-none-elf/release/contig-rproc-firmware
cmp -s "$firmware_elf" firmware/target/embedded.elf || cp "$firmware_elf" firmware/target/embedded.elf
if $firmware_only; then
    exit 0
fi
cargo build --release --locked "${kernel_features[@]}" || exit 4
kernel="${CARGO_TARGET_DIR:-target}/riscv64gc-unknown-none-elf/release/contig-qemu-kernel"

work=target/qemu
mkdir -p "$work"
disk="$work/disk.img"
rm -f "$disk"
truncate -s 1M "$disk"
pattern PREFILL: "$PREFILL_FIRST" >"$work/prefill.bin"
dd if="$work/prefill.bin" of="$disk" bs=512 seek="$PREFILL_FIRST" conv=notrunc status=none
if $corrupt; then
    # One digit of sector 19's third line: "...sector 000019..." becomes "...000X19...".
    offset=$(( (PREFILL_FIRST + 3) * 512 + 2 * 32 + 19 ))
    printf 'X' | dd of="$disk" bs=1 seek="$offset" conv=notrunc status=none
    echo "corrupted the pre-filled pattern at byte $offset of the image"
fi

echo "booting QEMU (timeout ${TIMEOUT} s)"
start=$(date +%s%N)
status=0
timeout "$TIMEOUT" qemu-system-riscv64 \
    -machine virt -smp 2 -m 256M -bios default -nographic -no-reboot \
    -kernel "$kernel" \
    -drive "file=$disk,format=raw,if=none,id=hd0" \
    -device virtio-blk-device,drive=hd0 \
    -device virtio-rng-device \
    </dev/null | tee "$work/serial.log" || status=$?
# `tee` succeeds; the pipeline's status is QEMU's (pipefail).
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "QEMU exited with status $status after ${elapsed_ms} ms"

case $status in
    0) ;;
    124) echo "FAIL: QEMU did not finish within ${TIMEOUT} s" >&2; exit 3 ;;
    1 | 2 | 3) echo "FAIL: the kernel reported a failure (status $status: 1 check, 2 panic, 3 trap)" >&2; exit 1 ;;
    *) echo "FAIL: QEMU could not run (status $status)" >&2; exit 3 ;;
esac
if ! grep -q '^all [0-9]* checks passed' "$work/serial.log"; then
    echo "FAIL: QEMU exited cleanly but the kernel did not report its checks" >&2
    exit 1
fi

# Memory -> device, seen from outside: the sectors the kernel wrote, in the file.
pattern WRITTEN: "$WRITTEN_FIRST" >"$work/written.expected"
dd if="$disk" of="$work/written.bin" bs=512 skip="$WRITTEN_FIRST" count="$SECTORS" status=none
if ! cmp "$work/written.expected" "$work/written.bin"; then
    echo "FAIL: sectors $WRITTEN_FIRST..$((WRITTEN_FIRST + SECTORS)) of the image do not hold the kernel's pattern" >&2
    exit 2
fi
echo "[PASS] image file: sectors $WRITTEN_FIRST..$((WRITTEN_FIRST + SECTORS)) hold the pattern the kernel wrote by DMA"
echo "PASS (QEMU run ${elapsed_ms} ms)"
