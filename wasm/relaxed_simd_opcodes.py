#!/usr/bin/env python3
"""Rewrites the linked WebAssembly module's fused multiply-adds from relaxed SIMD's 2022 draft
encoding to the shipped one, in place, and records where they are.

    python3 wasm/relaxed_simd_opcodes.py build-wasm/pt2returnn_wasm.wasm

Debian's emscripten (LLVM 14, binaryen 108) emits the draft's f32x4.fma (0xfd, LEB 175);
engines validate the shipped f32x4.relaxed_madd (0xfd, LEB 261), the same length. Each function
body is decoded instruction by instruction (a byte search could hit an immediate or a constant),
and an instruction this decoder does not know stops the build with its opcode and offset. Only
the f32x4 fused multiply-add is expected: any other relaxed SIMD instruction is an error too.

A custom section "pt2.relaxed_madd" is appended (earlier offsets stay as they are): the file
offsets of the rewritten instructions, u32 little-endian. wasm/pt2.mjs reads it where the engine
lacks relaxed SIMD and puts in each place an instruction of the same stack shape it validates
(v128.bitselect, nop) in a function the core then never calls (pt2_kernels_set_fused(0)).
"""
import os
import struct
import sys

SECTION_NAME = "pt2.relaxed_madd"
# A block's type in one byte: empty, i32, i64, f32, f64, v128, funcref, externref (else an s33 index).
BLOCK_VALUE_TYPES = {0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}
DRAFT_FMA, RELAXED_MADD = 175, 261


def leb(data, at, signed=False):
    """(value, next offset) of the LEB128 number at `at`."""
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if signed and byte & 0x40:
                result -= 1 << shift
            return result, at


def encode_leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class Refused(Exception):
    """Why the module is left as it is."""


def skip_memarg(data, at):
    _, at = leb(data, at)
    _, at = leb(data, at)
    return at


def skip_simd(data, at, start, found):
    """After the 0xfd prefix: the sub-opcode and its immediates."""
    op_at = at
    op, at = leb(data, at)
    if op <= 11 or op in (92, 93):  # v128 loads and stores, load32/64_zero
        return skip_memarg(data, at)
    if op in (12, 13):  # v128.const, i8x16.shuffle
        return at + 16
    if 21 <= op <= 34:  # extract_lane / replace_lane
        return at + 1
    if 84 <= op <= 91:  # load_lane / store_lane
        return skip_memarg(data, at) + 1
    if op == DRAFT_FMA:
        found.append(start)
        if at - op_at != 2:
            raise Refused(f"f32x4.fma at {start} encoded in {at - op_at} bytes, not 2")
        return at
    if op > 255:
        raise Refused(f"SIMD opcode 0xfd {op} at {start}: a relaxed SIMD instruction other than f32x4.fma")
    return at


def skip_instruction(data, at, found):
    start = at
    op = data[at]
    at += 1
    if op in (0x02, 0x03, 0x04):  # block, loop, if: a block type, empty, a value type or a type index
        if data[at] in BLOCK_VALUE_TYPES:
            return at + 1
        _, at = leb(data, at, signed=True)
        return at
    if op in (0x0C, 0x0D, 0x10, 0x12) or 0x20 <= op <= 0x26 or op == 0xD2:  # branches, calls, locals, globals, tables, ref.func
        _, at = leb(data, at)
        return at
    if op == 0x0E:  # br_table
        count, at = leb(data, at)
        for _ in range(count + 1):
            _, at = leb(data, at)
        return at
    if op in (0x11, 0x13):  # call_indirect: type, table
        _, at = leb(data, at)
        _, at = leb(data, at)
        return at
    if op == 0x1C:  # select with types
        count, at = leb(data, at)
        return at + count
    if 0x28 <= op <= 0x3E:
        return skip_memarg(data, at)
    if op in (0x3F, 0x40, 0xD0):  # memory.size/grow (memory 0), ref.null (a type)
        return at + 1
    if op in (0x41, 0x42):
        _, at = leb(data, at, signed=True)
        return at
    if op == 0x43:
        return at + 4
    if op == 0x44:
        return at + 8
    if op == 0xFC:
        sub, at = leb(data, at)
        if sub <= 7:
            return at
        immediates = {8: 2, 9: 1, 10: 2, 11: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}.get(sub)
        if immediates is None:
            raise Refused(f"opcode 0xfc {sub} at {start}")
        for _ in range(immediates):
            _, at = leb(data, at)
        return at
    if op == 0xFD:
        return skip_simd(data, at, start, found)
    if op == 0xFE:  # threads (the threads build): atomic.fence has a zero byte, the rest a memarg
        sub, at = leb(data, at)
        return at + 1 if sub == 0x03 else skip_memarg(data, at)
    if op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1) or 0x45 <= op <= 0xC4:
        return at
    raise Refused(f"opcode {op:#04x} at {start}")


def sections(data):
    """(id, payload start, payload end) of each section."""
    if data[:8] != b"\0asm\1\0\0\0":
        raise Refused("not a WebAssembly module (version 1)")
    at, found = 8, []
    while at < len(data):
        section = data[at]
        size, start = leb(data, at + 1)
        found.append((section, start, start + size))
        at = start + size
    return found


def find_draft_fmas(data):
    """File offsets of each draft f32x4.fma in the code section; raises Refused on a module that
    is not WebAssembly, has been rewritten already, or holds an instruction not known here."""
    found, parts = [], sections(data)
    for section, start, end in parts:
        if section == 0:
            name_length, name_at = leb(data, start)
            if data[name_at:name_at + name_length].decode(errors="replace") == SECTION_NAME:
                raise Refused(f"rewritten already (it has the custom section {SECTION_NAME})")
    for section, start, end in parts:
        if section != 10:
            continue
        count, body = leb(data, start)
        for _ in range(count):
            body_size, body = leb(data, body)
            body_end = body + body_size
            groups, p = leb(data, body)
            for _ in range(groups):
                _, p = leb(data, p)
                p += 1
            while p < body_end:
                p = skip_instruction(data, p, found)
            if p != body_end:
                raise Refused(f"a function body ends at {p}, not {body_end}")
            body = body_end
    return found


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        raise SystemExit(__doc__.strip().splitlines()[0] + "\nusage: relaxed_simd_opcodes.py MODULE.wasm")
    path = sys.argv[1]
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read())
    except OSError as e:
        raise SystemExit(f"{path}: {e.strerror}")
    try:
        found = find_draft_fmas(data)
    except Refused as e:
        raise SystemExit(f"{path}: {e}; nothing rewritten")
    except IndexError:
        raise SystemExit(f"{path}: the module ends inside a section or an instruction; nothing rewritten")
    if not found:
        raise SystemExit(f"{path}: no f32x4.fma (0xfd 175) in the code: was kernels_gemm.c built with -mrelaxed-simd?")
    new = encode_leb(RELAXED_MADD)
    for offset in found:
        data[offset + 1:offset + 3] = new
    name = SECTION_NAME.encode()
    payload = encode_leb(len(name)) + name + b"".join(struct.pack("<I", offset) for offset in found)
    data += b"\0" + encode_leb(len(payload)) + payload
    with open(path + ".tmp", "wb") as out:
        out.write(data)
    os.replace(path + ".tmp", path)
    print(f"{path}: {len(found)} f32x4.fma rewritten to f32x4.relaxed_madd")


if __name__ == "__main__":
    main()
