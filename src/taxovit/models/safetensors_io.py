"""Read and write ``.safetensors`` files without the ``safetensors`` package.

The format (https://github.com/huggingface/safetensors, "Format" section)::

    8 bytes   N, the header length, unsigned little-endian
    N bytes   JSON object: name -> {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
              (plus an optional "__metadata__": {str: str}); may be padded with spaces
    rest      the tensors' bytes, little-endian, C order; offsets are relative to this buffer

Each tensor's byte count must be ``prod(shape) * itemsize``. Errors name the file.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import BinaryIO

import torch
from torch import Tensor

from taxovit.errors import ModelFileError

__all__ = ["DTYPES", "read_safetensors", "save_safetensors"]

#: safetensors dtype code -> torch dtype (the codes this reader and writer support)
DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_CODES = {v: k for k, v in DTYPES.items()}
_MAX_HEADER = 100 * 2**20  # the reference implementation's limit


def _bad(path: str, why: str) -> ModelFileError:
    return ModelFileError(f"not a valid safetensors file: {why}", file=path)


def _header(fh: BinaryIO, size: int, path: str) -> tuple[dict, int]:
    """The parsed JSON header and the offset of the data buffer."""
    if size < 8:
        raise _bad(path, f"{size} bytes, shorter than the 8-byte header length")
    n = int.from_bytes(fh.read(8), "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise _bad(path, f"header length {n} does not fit in a {size}-byte file")
    try:
        header = json.loads(fh.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"header is not JSON ({e})") from None
    except RecursionError:
        raise _bad(path, "header nests lists or objects too deeply") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    return header, 8 + n


def _span(name: str, info: object, data_len: int, path: str) -> tuple[torch.dtype, list, int, int]:
    """``(dtype, shape, begin, end)`` of a header entry, checked against the data length."""
    if not isinstance(info, dict) or {"dtype", "shape", "data_offsets"} - set(info):
        raise _bad(path, f"entry {name!r} lacks dtype/shape/data_offsets")
    dtype = DTYPES.get(info["dtype"])
    if dtype is None:
        raise _bad(
            path,
            f"{name!r} has unsupported dtype {info['dtype']!r} (supported: {', '.join(DTYPES)})",
        )
    shape, offsets = info["shape"], info["data_offsets"]
    if (
        not isinstance(shape, list)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in [*shape, *offsets]
        )
    ):
        raise _bad(path, f"{name!r} has a malformed shape or data_offsets")
    begin, end = offsets
    size = torch.empty(0, dtype=dtype).element_size()
    if not begin <= end <= data_len or end - begin != math.prod(shape) * size:
        raise _bad(
            path,
            f"{name!r}: bytes [{begin}, {end}) do not hold shape {shape} of "
            f"{info['dtype']} in a {data_len}-byte data buffer (truncated?)",
        )
    return dtype, shape, begin, end


def _from_bytes(raw: bytearray, dtype: torch.dtype, shape: list) -> Tensor:
    """Little-endian bytes as a tensor (bytes swapped on a big-endian machine)."""
    if not raw:
        return torch.empty(shape, dtype=dtype)
    t = torch.frombuffer(raw, dtype=torch.uint8)
    size = torch.empty(0, dtype=dtype).element_size()
    if sys.byteorder == "big" and size > 1:
        t = t.view(-1, size).flip(1).reshape(-1)
    return t.view(dtype).reshape(shape)


def read_safetensors(path: str | os.PathLike) -> dict[str, Tensor]:
    """All tensors of a ``.safetensors`` file (CPU, in their stored dtype), read one at a time.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    dict of str to Tensor
        Name -> tensor (the ``__metadata__`` entry is skipped).

    Raises
    ------
    ModelFileError
        Naming the file when it is truncated or malformed (a subclass of the project's
        ``InputError`` and of ``ValueError``).
    FileNotFoundError
        When there is no such file.

    References
    ----------
    .. [1] The safetensors format, https://github.com/huggingface/safetensors.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from taxovit.models import read_safetensors, save_safetensors
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.safetensors")
    ...     save_safetensors({"w": torch.arange(3.0)}, path)
    ...     read_safetensors(path)
    {'w': tensor([0., 1., 2.])}
    """
    path = os.fspath(path)
    out = {}
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        header, start = _header(fh, size, path)
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, begin, end = _span(name, info, size - start, path)
            fh.seek(start + begin)
            out[name] = _from_bytes(bytearray(fh.read(end - begin)), dtype, shape)
    return out


def save_safetensors(
    tensors: dict[str, Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` as a safetensors file.

    Tensors may be on any device; they are stored contiguous and little-endian, in name
    order; the header is space-padded to a multiple of 8 bytes, as the reference
    implementation does.

    Parameters
    ----------
    tensors : dict of str to Tensor
        What to store.
    path : str or os.PathLike
        The file to write (replaced if it exists).
    metadata : dict of str to str, optional
        Stored as the header's ``__metadata__``.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        When a tensor's dtype has no safetensors code.

    References
    ----------
    .. [1] The safetensors format, https://github.com/huggingface/safetensors.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from taxovit.models import read_safetensors, save_safetensors
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "t.safetensors")
    ...     save_safetensors({"b": torch.ones(2, 2), "a": torch.zeros(1)}, path)
    ...     sorted(read_safetensors(path))
    ['a', 'b']
    """
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _CODES:
            raise ValueError(f"{name}: dtype {t.dtype} cannot be stored in safetensors")
        raw = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
        if sys.byteorder == "big" and t.element_size() > 1:
            raw = raw.view(-1, t.element_size()).flip(1).reshape(-1)
        blob = raw.numpy().tobytes()
        header[name] = {
            "dtype": _CODES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)
