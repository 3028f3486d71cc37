"""gitmodel's own GGUF numbers (gguf_format.py) against the `gguf` package, the reference.

The header reader no longer imports `gguf` (numpy, ~0.2 s a register); these tests do,
to prove the numbers written from the spec are the reference's and that a real GGUF
holding many tensor types reads the same through both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

from gitmodel import gguf_format as fmt
from gitmodel.demo import write_gguf
from gitmodel.gguf_header import read_header

c = gguf.constants


def test_the_format_numbers_are_the_reference_packages() -> None:
    assert (fmt.MAGIC, fmt.VERSION, fmt.DEFAULT_ALIGNMENT) == (
        c.GGUF_MAGIC,
        c.GGUF_VERSION,
        c.GGUF_DEFAULT_ALIGNMENT,
    )
    assert {
        int(c.GGUFValueType.STRING): "STRING",
        int(c.GGUFValueType.ARRAY): "ARRAY",
    } == {fmt.STRING: "STRING", fmt.ARRAY: "ARRAY"}
    formats = {"UINT8": "B", "INT8": "b", "UINT16": "H", "INT16": "h", "UINT32": "I", "INT32": "i"}
    formats |= {"FLOAT32": "f", "BOOL": "?", "UINT64": "Q", "INT64": "q", "FLOAT64": "d"}
    named = {int(t): formats[t.name] for t in c.GGUFValueType if t.name in formats}
    assert named == fmt.SCALARS
    # Every type the reference knows, with its block size and bytes (a newer `gguf` with a
    # new type fails here: add it to gguf_format.py, or files of that type are refused).
    tensors = {int(t): (t.name, *c.GGML_QUANT_SIZES[t]) for t in c.GGMLQuantizationType}
    assert tensors == fmt.TENSOR_TYPES
    assert {int(t): t.name for t in c.LlamaFileType} == fmt.FILE_TYPES


QUANTS = ["Q4_0", "Q8_0", "Q4_K", "Q6_K", "IQ4_XS", "BF16", "TQ2_0", "MXFP4"]


def test_a_gguf_with_many_tensor_types_reads_the_same_as_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "q.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_file_type(15)
    w.add_custom_alignment(64)
    rng = np.random.default_rng(3)
    for i, name in enumerate(QUANTS):
        qtype = c.GGMLQuantizationType[name]
        block, size = c.GGML_QUANT_SIZES[qtype]
        rows, per_row = 2 + i, block * (1 + i % 3)
        raw = rng.integers(0, 255, (rows, per_row // block * size), dtype=np.uint8)
        w.add_tensor(f"t{i}.{name}", raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ours, ref = read_header(path), gguf.GGUFReader(path)
    assert ours.tensor_types == {t.tensor_type.name: 1 for t in ref.tensors} == dict.fromkeys(QUANTS, 1)
    assert ours.parameter_count == sum(int(t.n_elements) for t in ref.tensors)
    assert (ours.alignment, ours.data_offset) == (ref.alignment, ref.data_offset) == (64, ref.data_offset)
    assert ours.file_type == "MOSTLY_Q4_K_M" and ours.quantization == "Q4_K_M"


def test_reading_a_header_imports_neither_gguf_nor_numpy(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", vocab=50)
    probe = (
        "import sys; from pathlib import Path; from gitmodel.gguf_header import read_header; "
        f"h = read_header(Path({str(path)!r})); "
        "assert h.tensor_types == {'F32': 2, 'F16': 1}, h; "
        "print(sorted(m for m in ('gguf', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("ftype", [99, 1023])
def test_an_unknown_file_type_is_named_not_refused(ftype: int) -> None:
    from gitmodel.gguf_header import _file_type_name

    assert _file_type_name(ftype) == f"UNKNOWN_{ftype}"
