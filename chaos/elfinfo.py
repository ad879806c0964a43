"""What a program file is, read from its bytes: an ELF executable (dynamically or statically linked,
which loader, Go or not, which machine) or a script with a ``#!`` line. Pure.

Used to decide, before anything starts, whether libfaketime can reach a target: the library is
loaded by glibc's dynamic loader through ``LD_PRELOAD``, so the program the container starts must be
dynamically linked against glibc and read the clock through libc.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PT_INTERP = 3
PT_NOTE = 4
ELF_MAGIC = b"\x7fELF"
MACHINES = {3: "x86", 40: "arm", 62: "x86-64", 183: "aarch64", 243: "riscv64", 8: "mips", 21: "ppc64", 22: "s390x"}
GO_SECTIONS = (b".go.buildinfo", b".note.go.buildid", b".gopclntab")


@dataclass(frozen=True)
class Program:
    kind: str  # "elf", "script" or "other"
    interpreter: str | None = None  # ELF: the PT_INTERP loader; script: the #! interpreter
    script_args: tuple[str, ...] = ()  # script: words after the interpreter on the #! line
    machine: str | None = None
    go: bool = False


def describe(data: bytes) -> Program:
    if data.startswith(b"#!"):
        words = data[2:].split(b"\n", 1)[0].decode(errors="replace").split()
        return Program("script", words[0] if words else None, tuple(words[1:]))
    if not data.startswith(ELF_MAGIC) or len(data) < 52:
        return Program("other")
    try:
        return _elf(data)
    except struct.error:  # truncated or corrupt headers
        return Program("other")


def _elf(data: bytes) -> Program:
    is64, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    machine_code = struct.unpack_from(endian + "H", data, 18)[0]
    if is64:
        phoff, shoff = struct.unpack_from(endian + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHHHH", data, 54)
    else:
        phoff, shoff = struct.unpack_from(endian + "II", data, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHHHH", data, 42)
    interpreter, go = None, False
    for i in range(phnum):
        at = phoff + i * phentsize
        if at + phentsize > len(data):
            break
        p_type, offset, size = _segment(data, at, endian, is64)
        if p_type == PT_INTERP:
            interpreter = data[offset:offset + size].split(b"\0", 1)[0].decode(errors="replace")
        elif p_type == PT_NOTE:
            go = go or _has_go_note(data[offset:offset + size], endian)
    go = go or _has_go_section(data, endian, is64, shoff, shentsize, shnum, shstrndx)
    return Program("elf", interpreter, machine=MACHINES.get(machine_code, f"machine {machine_code}"), go=go)


def _segment(data: bytes, at: int, endian: str, is64: bool) -> tuple[int, int, int]:
    if is64:
        p_type, _flags, offset, _vaddr, _paddr, size = struct.unpack_from(endian + "IIQQQQ", data, at)
    else:
        p_type, offset, _vaddr, _paddr, size = struct.unpack_from(endian + "IIIII", data, at)
    return p_type, offset, size


def _has_go_note(notes: bytes, endian: str) -> bool:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, _kind = struct.unpack_from(endian + "III", notes, at)
        name = notes[at + 12:at + 12 + namesz].rstrip(b"\0")
        if name == b"Go":
            return True
        at += 12 + _align4(namesz) + _align4(descsz)
    return False


def _has_go_section(data: bytes, endian: str, is64: bool, shoff: int, shentsize: int, shnum: int,
                    shstrndx: int) -> bool:
    if not shoff or shstrndx >= shnum or shoff + shnum * shentsize > len(data):
        return False
    name_offset_format = endian + ("IIQQQ" if is64 else "IIIII")

    def header(index: int) -> tuple:
        return struct.unpack_from(name_offset_format, data, shoff + index * shentsize)

    strings = data[header(shstrndx)[4]:]  # sh_offset of the section-name table
    for i in range(shnum):
        name_at = header(i)[0]
        name = strings[name_at:name_at + 32].split(b"\0", 1)[0]
        if name in GO_SECTIONS:
            return True
    return False


def _align4(size: int) -> int:
    return (size + 3) & ~3


def refusal(program: Program, setuid: bool = False, library_machine: str | None = None) -> str | None:
    """Why libfaketime cannot skew this program's clock, or None when it can."""
    if program.kind == "script":
        return None  # the caller follows the #! line to the program that really runs
    if program.kind != "elf":
        return "it is neither an ELF program nor a #! script"
    if setuid:
        return "it is setuid: the dynamic loader ignores LD_PRELOAD for it"
    if program.go:
        return "it is a Go program: Go reads the clock through the vDSO, not libc, so libfaketime cannot reach it"
    if program.interpreter is None:
        return "it is statically linked: no dynamic loader runs to read LD_PRELOAD"
    if "musl" in program.interpreter:
        return (f"it is linked against musl ({program.interpreter}); the harness's libfaketime is built for glibc "
                "(use a glibc-based image, e.g. Debian)")
    if library_machine and program.machine != library_machine:
        return f"it is built for {program.machine}; the harness's libfaketime is built for {library_machine}"
    return None
