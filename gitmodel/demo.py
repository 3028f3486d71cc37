"""Tiny valid GGUF files for the demo (scripts/demo.sh) and the tests.

Written with the `gguf` package's reference writer, so `gitmodel serve`, `register`'s
header check and llama.cpp's own reader all accept them.  `write_gguf` writes a few
kilobytes of header-valid tensors; `write_llama_gguf` writes a complete llama model
(~0.5 MB) that a real llama-server loads in ~0.1 s and answers from.

    python -m gitmodel.demo PATH [--seed N] [--llama] [--broken]
"""

from __future__ import annotations

import argparse
import random
import struct
from pathlib import Path
from typing import Any

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


# The tiny llama: two layers, 64 wide, four heads, a SentencePiece-style vocabulary with
# byte fallback. Small enough to write in milliseconds, real enough for llama.cpp to run.
LLAMA_EMBD = 64
LLAMA_LAYERS = 2
LLAMA_HEADS = 4
LLAMA_FF = 128
LLAMA_CONTEXT = 256  # shows up in llama-server's /v1/models as n_ctx_train
_SPECIALS = ("<unk>", "<s>", "</s>")
_WORD_TEXT = (
    "the of and to in is was for on that with as by at from his her it an are were which be this "
    "has had not or but one all their they new first two been its who after also more other time "
    "year some when into most over only city then during up would there about three than people "
    "state school world under used many these known such while where both found made between "
    "through later film years well part river model version north south east west small large "
    "light dark water fire stone green blue red gold silver quick slow bright quiet sharp round "
    "open close high low early late old young long short warm cold hard soft deep wide near far "
    "song road tree house field hill bird fish horse cloud rain snow wind star moon sun sea"
)
_WORDS = tuple(_WORD_TEXT.split())


def llama_vocab() -> list[str]:
    """<unk>, <s>, </s>, the 256 byte tokens, then words with SentencePiece's word mark."""
    return [*_SPECIALS, *(f"<0x{b:02X}>" for b in range(256)), *(f"\u2581{w}" for w in _WORDS)]


def write_llama_gguf(path: Path, seed: int = 0, broken: bool = False) -> Path:
    """A complete tiny llama model whose greedy answers depend on `seed`.

    The output rows of the special and byte tokens are zero, so greedy decoding picks
    words (and never the end token): two seeds give two different, readable answers.
    `broken` leaves out one layer's feed-forward tensor; llama.cpp refuses such a file
    as it loads (llama-server exits within milliseconds).
    """
    import gguf
    import numpy as np

    vocab = llama_vocab()
    n_vocab, n_embd, head_dim = len(vocab), LLAMA_EMBD, LLAMA_EMBD // LLAMA_HEADS
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"gitmodel-tiny-llama-{seed}")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(LLAMA_CONTEXT)
    w.add_embedding_length(n_embd)
    w.add_block_count(LLAMA_LAYERS)
    w.add_feed_forward_length(LLAMA_FF)
    w.add_head_count(LLAMA_HEADS)
    w.add_head_count_kv(LLAMA_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(vocab)
    w.add_token_scores([0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(len(_WORDS))])
    types = gguf.TokenType
    w.add_token_types(
        [types.UNKNOWN, types.CONTROL, types.CONTROL] + [types.BYTE] * 256 + [types.NORMAL] * len(_WORDS)
    )
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> Any:
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    w.add_tensor("token_embd.weight", weights(n_vocab, n_embd))
    for i in range(LLAMA_LAYERS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{name}.weight", weights(n_embd, n_embd))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", weights(LLAMA_FF, n_embd))
        if not (broken and i == LLAMA_LAYERS - 1):
            w.add_tensor(f"blk.{i}.ffn_up.weight", weights(LLAMA_FF, n_embd))
        w.add_tensor(f"blk.{i}.ffn_down.weight", weights(n_embd, LLAMA_FF))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    output = weights(n_vocab, n_embd) * 4  # sharper logits: greedy choices are stable
    output[: len(_SPECIALS) + 256] = 0.0
    w.add_tensor("output.weight", output)
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
    parser.add_argument("--llama", action="store_true", help="A complete tiny llama that llama-server runs.")
    parser.add_argument("--broken", action="store_true", help="With --llama: leave out a required tensor.")
    args = parser.parse_args(argv)
    if args.llama:
        write_llama_gguf(args.path, seed=args.seed, broken=args.broken)
    else:
        write_gguf(args.path, seed=args.seed)


if __name__ == "__main__":
    main()
