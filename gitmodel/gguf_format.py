"""The GGUF format's numbers, written from its specification (ggml's docs/gguf.md).

The header reader (gguf_header.py) needs only these; importing the `gguf` package for
them cost ~0.2 s (numpy) on every register and every model load.  tests/test_gguf_format.py
checks every entry against the `gguf` package, the reference implementation.
"""

from __future__ import annotations

MAGIC = 0x46554747  # b"GGUF" read as a little-endian uint32
VERSION = 3  # the current version; 2 is read too (same layout, 64-bit counts)
DEFAULT_ALIGNMENT = 32  # where `general.alignment` is absent

# Metadata value types -> struct format of the scalar ones.
STRING = 8
ARRAY = 9
SCALARS: dict[int, str] = {
    0: "B",  # uint8
    1: "b",  # int8
    2: "H",  # uint16
    3: "h",  # int16
    4: "I",  # uint32
    5: "i",  # int32
    6: "f",  # float32
    7: "?",  # bool (one byte)
    10: "Q",  # uint64
    11: "q",  # int64
    12: "d",  # float64
}

# ggml tensor types: id -> (name, elements per block, bytes per block).  The k-quants and
# i-quants pack 256 elements a block (QK_K), the older quants 32.
_K = 256
TENSOR_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),
    3: ("Q4_1", 32, 2 + 2 + 16),
    6: ("Q5_0", 32, 2 + 4 + 16),
    7: ("Q5_1", 32, 2 + 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 4 + 4 + 32),
    10: ("Q2_K", _K, 2 + 2 + _K // 16 + _K // 4),
    11: ("Q3_K", _K, 2 + _K // 4 + _K // 8 + 12),
    12: ("Q4_K", _K, 2 + 2 + _K // 2 + 12),
    13: ("Q5_K", _K, 2 + 2 + _K // 2 + _K // 8 + 12),
    14: ("Q6_K", _K, 2 + _K // 2 + _K // 4 + _K // 16),
    15: ("Q8_K", _K, 4 + _K + _K // 8),
    16: ("IQ2_XXS", _K, 2 + _K // 4),
    17: ("IQ2_XS", _K, 2 + _K // 4 + _K // 32),
    18: ("IQ3_XXS", _K, 2 + _K // 4 + _K // 8),
    19: ("IQ1_S", _K, 2 + _K // 8 + _K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", _K, 2 + _K // 4 + _K // 8 + _K // 32 + 4),
    22: ("IQ2_S", _K, 2 + _K // 4 + _K // 16),
    23: ("IQ4_XS", _K, 2 + 2 + _K // 2 + _K // 64),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", _K, _K // 8 + _K // 16 + _K // 32),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", _K, 2 + 4 * 13),
    35: ("TQ2_0", _K, 2 + 64),
    39: ("MXFP4", 32, 1 + 16),
    40: ("NVFP4", 64, 4 + 64 // 2),  # an fp8 scale per 16 elements, 4 bits each
    41: ("Q1_0", 128, 2 + 128 // 8),  # one fp16 scale, 1 bit each
}

# llama.cpp's file types (`general.file_type`): the quantization a file was made with.
FILE_TYPES: dict[int, str] = {
    0: "ALL_F32",
    1: "MOSTLY_F16",
    2: "MOSTLY_Q4_0",
    3: "MOSTLY_Q4_1",
    7: "MOSTLY_Q8_0",
    8: "MOSTLY_Q5_0",
    9: "MOSTLY_Q5_1",
    10: "MOSTLY_Q2_K",
    11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M",
    13: "MOSTLY_Q3_K_L",
    14: "MOSTLY_Q4_K_S",
    15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S",
    17: "MOSTLY_Q5_K_M",
    18: "MOSTLY_Q6_K",
    19: "MOSTLY_IQ2_XXS",
    20: "MOSTLY_IQ2_XS",
    21: "MOSTLY_Q2_K_S",
    22: "MOSTLY_IQ3_XS",
    23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S",
    25: "MOSTLY_IQ4_NL",
    26: "MOSTLY_IQ3_S",
    27: "MOSTLY_IQ3_M",
    28: "MOSTLY_IQ2_S",
    29: "MOSTLY_IQ2_M",
    30: "MOSTLY_IQ4_XS",
    31: "MOSTLY_IQ1_M",
    32: "MOSTLY_BF16",
    36: "MOSTLY_TQ1_0",
    37: "MOSTLY_TQ2_0",
    38: "MOSTLY_MXFP4_MOE",
    39: "MOSTLY_NVFP4",
    40: "MOSTLY_Q1_0",
    1024: "GUESSED",
}
