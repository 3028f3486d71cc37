"""Tiny valid GGUF files for the demo (scripts/demo.sh) and the tests.

Written with the `gguf` package's reference writer, so `gitmodel serve`, `register`'s
header check and llama.cpp's own reader all accept them; a few kilobytes each.

    python -m gitmodel.demo PATH [--seed N]
"""

from __future__ import annotations

import argparse
import random
import struct
from pathlib import Path

_ALIGN = 32  # GGUF's default alignment of the tensor data
_I8 = 24  # GGMLQuantizationType.I8: one byte per element, blocks of one


def write_gguf(
    path: Path,
    arch: str = "llama",
    file_type: int = 15,
    seed: int = 0,
    vocab: int = 0,
    big_endian: bool = False,
) -> Path:
    """A real, small GGUF: a few tiny tensors whose values depend on `seed`."""
    import gguf
    import numpy as np

    endian = gguf.GGUFEndian.BIG if big_endian else gguf.GGUFEndian.LITTLE
    w = gguf.GGUFWriter(str(path), arch, endianess=endian)
    w.add_name(f"{arch}-test")
    w.add_file_type(file_type)
    w.add_quantization_version(2)
    w.add_context_length(4096)
    w.add_string("tokenizer.chat_template", "{{ messages }}" * 200)  # a long string is skipped
    if vocab:
        w.add_token_list([f"tok{i}" for i in range(vocab)])
        w.add_token_scores([0.0] * vocab)
        w.add_token_types([1] * vocab)
    rng = np.random.default_rng(seed)
    w.add_tensor("token_embd.weight", rng.standard_normal((16, 8)).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((8, 8)).astype(np.float16))
    w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def gguf_head(size: int) -> bytes:
    """The header of a valid GGUF of exactly `size` bytes whose one int8 tensor fills the rest.

    Pure struct packing (no numpy): tests and benches append any bytes they like.
    """
    name = b"w"
    fixed = struct.pack("<4sIQQ", b"GGUF", 3, 1, 0) + struct.pack("<Q", len(name)) + name
    start = -(-(len(fixed) + struct.calcsize("<IQIQ")) // _ALIGN) * _ALIGN
    if size <= start:
        raise ValueError(f"a GGUF takes more than {start} bytes")
    return (fixed + struct.pack("<IQIQ", 1, size - start, _I8, 0)).ljust(start, b"\0")


def gguf_bytes(size: int, seed: int) -> bytes:
    """Exactly `size` bytes of a valid GGUF: one int8 tensor of seeded random values."""
    head = gguf_head(size)
    return head + random.Random(seed).randbytes(size - len(head))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gitmodel.demo", description="Write a tiny valid GGUF.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0, help="Different seeds give different weights.")
    args = parser.parse_args(argv)
    write_gguf(args.path, seed=args.seed)


if __name__ == "__main__":
    main()
