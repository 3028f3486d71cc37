"""Read a GGUF file's header (metadata and tensor table) without touching the tensor data.

The format's numbers (magic, value types, quantization block sizes, file types) are in
gguf_format.py, checked against the `gguf` package (the reference implementation
llama.cpp publishes), which is not imported here: it costs ~0.2 s (numpy).  Its
``GGUFReader`` is not used to scan the header because it builds numpy views for every
array element: on a Llama-3-sized vocabulary (128,256 tokens, 280,147 merges) it took
16 s and 680 MiB per load on our machine, which would make every reload slow.  This
scanner walks the same bytes through an mmap, skips arrays by their lengths, and reads
only the header pages (a sparse 1 GiB file stays at a few MiB of RSS); tests check that
it agrees with ``GGUFReader`` field by field.  A file that ends early, names an unknown
tensor type, or whose tensors would lie past its end is refused.

A GGUF is untrusted input (anyone who can register a version writes one), so the scan is
bounded whatever the file claims: at most MAX_HEADER_BYTES are read, MAX_ITEMS entries
walked one by one (key-value pairs, tensors, elements of string and nested arrays),
arrays nested MAX_DEPTH deep, and names MAX_NAME bytes long.  A Llama-3 header uses
~9 MiB and ~0.4 M items; past a bound the file is refused, never allocated or looped on.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitmodel import gguf_format as fmt
from gitmodel.errors import UsageError

_MAX_DIMS = 8  # GGML uses 4; anything above 8 is garbage, not a future format
_MAX_KEPT_STRING = 1024  # long strings (chat templates) are skipped, not reported
MAX_HEADER_BYTES = 64 << 20
MAX_ITEMS = 1 << 22  # ~1 s of walking in the worst case on our machine
_NESTED_COST = 8  # an element that is itself an array costs ~6x a string to walk
MAX_DEPTH = 3  # an array of arrays of arrays; llama.cpp writes none nested at all
MAX_NAME = 65535  # a key or tensor name (the spec's bound for keys)


@dataclass(frozen=True)
class GGUFHeader:
    gguf_version: int
    architecture: str | None
    name: str | None
    file_type: str | None  # llama.cpp's LlamaFileType name, e.g. MOSTLY_Q4_K_M
    quantization: str | None  # the same without its prefix, e.g. Q4_K_M
    quantization_version: int | None
    context_length: int | None
    tensor_count: int
    kv_count: int
    parameter_count: int
    tensor_types: dict[str, int]
    alignment: int
    data_offset: int
    file_size: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class InvalidGGUF(UsageError):
    """A file named .gguf whose bytes are not a GGUF; callers add what to do next."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def read_header(path: Path) -> GGUFHeader:
    """Parse the header of the GGUF file at path; raises InvalidGGUF when it is not GGUF."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 24:
                raise _Bad(f"{size} bytes is too short for a GGUF header")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _Scanner(mm, size).header()
    except _Bad as exc:
        raise InvalidGGUF(path, f"not a valid GGUF file ({exc})") from None
    except struct.error:
        raise InvalidGGUF(path, "not a valid GGUF file (the header ends early)") from None
    except OSError as exc:
        raise InvalidGGUF(path, f"unreadable ({exc.strerror})") from None


class _Bad(Exception):
    pass


# name, type name, element count, offset from the data section, byte size
_Tensor = tuple[str, str, int, int, int]


class _Scanner:
    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self.buf = buf
        self.size = size
        self.limit = min(size, MAX_HEADER_BYTES)  # no read goes past this
        self.items = MAX_ITEMS  # what is left of the walking budget
        self.pos = 0
        self.order = "<"
        self.scalar = fmt.SCALARS

    def header(self) -> GGUFHeader:
        if self._unpack("<I") != fmt.MAGIC:
            raise _Bad("no GGUF magic at the start")
        version = self._unpack("<I")
        if version & 0xFFFF == 0:  # written on a big-endian machine, as GGUFReader detects it
            self.order = ">"
            version = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in (2, fmt.VERSION):
            raise _Bad(f"GGUF version {version} is not supported (2 or {fmt.VERSION})")
        tensor_count, kv_count = self._u64(), self._u64()
        self._spend(kv_count, "key-value pairs")
        self._spend(tensor_count, "tensors")
        kv: dict[str, Any] = {}
        for _ in range(kv_count):
            key = self._name()
            value = self._value(self._u32(), keep=True)
            if value is not None:
                kv[key] = value
        tensors = [self._tensor_info() for _ in range(tensor_count)]
        alignment = kv.get("general.alignment", fmt.DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise _Bad("general.alignment must be a power of two")
        data_offset = -(-self.pos // alignment) * alignment
        self._check_extents(tensors, data_offset)
        arch = kv.get("general.architecture")
        ftype = kv.get("general.file_type")
        ftype_name = _file_type_name(ftype) if isinstance(ftype, int) else None
        return GGUFHeader(
            gguf_version=version,
            architecture=arch if isinstance(arch, str) else None,
            name=kv.get("general.name") if isinstance(kv.get("general.name"), str) else None,
            file_type=ftype_name,
            quantization=_strip_prefix(ftype_name) if ftype_name else None,
            quantization_version=_int_or_none(kv.get("general.quantization_version")),
            context_length=_int_or_none(kv.get(f"{arch}.context_length")),
            tensor_count=tensor_count,
            kv_count=kv_count,
            parameter_count=sum(n for _, _, n, _, _ in tensors),
            tensor_types=dict(Counter(t for _, t, _, _, _ in tensors).most_common()),
            alignment=alignment,
            data_offset=data_offset,
            file_size=self.size,
        )

    def _tensor_info(self) -> _Tensor:
        name = self._name()
        n_dims = self._u32()
        if not 0 < n_dims <= _MAX_DIMS:
            raise _Bad(f"tensor {name!r} has {n_dims} dimensions")
        dims = [self._u64() for _ in range(n_dims)]
        raw_type = self._u32()
        if raw_type not in fmt.TENSOR_TYPES:
            raise _Bad(f"tensor {name!r} has unknown type {raw_type}")
        type_name, block, type_size = fmt.TENSOR_TYPES[raw_type]
        offset = self._u64()
        n_elements = 1
        for d in dims:
            n_elements *= d
        if dims[0] % block:
            raise _Bad(f"tensor {name!r}: first dimension {dims[0]} is not a multiple of {block}")
        return name, type_name, n_elements, offset, n_elements * type_size // block

    def _check_extents(self, tensors: list[_Tensor], data_offset: int) -> None:
        for name, _, _, offset, n_bytes in tensors:
            end = data_offset + offset + n_bytes
            if end > self.size:
                raise _Bad(f"tensor {name!r} ends at byte {end} but the file has {self.size} (truncated?)")

    def _value(self, vtype: int, keep: bool, depth: int = 0) -> Any:
        if vtype in self.scalar:
            value = self._unpack(self.order + self.scalar[vtype])
            return value if keep else None
        if vtype == fmt.STRING:
            return self._string(keep=keep, longest=_MAX_KEPT_STRING) or None
        if vtype == fmt.ARRAY:
            if depth >= MAX_DEPTH:
                raise _Bad(f"arrays nested more than {MAX_DEPTH} deep at byte {self.pos}")
            item_type, count = self._u32(), self._u64()
            if item_type in self.scalar:
                self._skip(count * struct.calcsize(self.scalar[item_type]))
                return None
            # Each element takes at least 8 bytes (a length or a type): a cheap first refusal.
            if count * 8 > self.limit - self.pos:
                raise _Bad(f"an array claims {count} elements, more than the header can hold")
            self._spend(count * (_NESTED_COST if item_type == fmt.ARRAY else 1), "array entries")
            if item_type == fmt.STRING:
                self._skip_strings(count)  # vocabularies: hundreds of thousands of strings
            else:
                for _ in range(count):
                    self._value(item_type, keep=False, depth=depth + 1)
            return None
        raise _Bad(f"unknown value type {vtype} at byte {self.pos}")

    def _spend(self, count: int, what: str) -> None:
        if count > self.items:
            raise _Bad(f"{count} {what} would take the header past {MAX_ITEMS} entries in all")
        self.items -= count

    def _skip_strings(self, count: int) -> None:
        length = struct.Struct(self.order + "Q").unpack_from
        buf, pos, limit = self.buf, self.pos, self.limit
        for _ in range(count):
            if pos + 8 > limit:
                break
            pos += 8 + length(buf, pos)[0]
            if pos > limit:
                break
        else:
            self.pos = pos
            return
        self.pos = pos
        self._skip(1)  # raises: says whether the file or our header bound ran out

    def _name(self) -> str:
        """A key or tensor name: refused when longer than MAX_NAME, not skipped."""
        start = self.pos
        name = self._string(longest=MAX_NAME)
        if self.pos - start - 8 > MAX_NAME:
            raise _Bad(f"a name at byte {start} is {self.pos - start - 8} bytes long (at most {MAX_NAME})")
        return name

    def _string(self, keep: bool = True, longest: int | None = None) -> str:
        """The next string; "" when not kept or longer than `longest` (skipped, never decoded)."""
        n = self._u64()
        start = self.pos
        self._skip(n)
        if not keep or (longest is not None and n > longest):
            return ""
        try:
            return self.buf[start : start + n].decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"a string at byte {start} is not UTF-8") from None

    def _skip(self, n: int) -> None:
        if n > self.limit - self.pos:
            if self.limit < self.size:
                raise _Bad(f"the header runs past {MAX_HEADER_BYTES} bytes, the most gitmodel reads")
            raise _Bad(f"the header ends early (byte {self.pos} + {n} > {self.size})")
        self.pos += n

    def _u32(self) -> int:
        return int(self._unpack(self.order + "I"))

    def _u64(self) -> int:
        return int(self._unpack(self.order + "Q"))

    def _unpack(self, fmt: str) -> Any:
        start = self.pos
        self._skip(struct.calcsize(fmt))
        (value,) = struct.unpack_from(fmt, self.buf, start)
        return value


def _file_type_name(ftype: int) -> str:
    return fmt.FILE_TYPES.get(ftype, f"UNKNOWN_{ftype}")


def _strip_prefix(name: str) -> str:
    for prefix in ("MOSTLY_", "ALL_"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
