"""JSON for taxonomy files: ``json.loads`` that names a repeated key by its JSON path, reads
any depth of nesting (a non-recursive parser past Python's recursion limit) and refuses
unpaired surrogate escapes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.decoder import scanstring
from pathlib import Path
from typing import Any

from taxovit.errors import InputError
from taxovit.taxonomy.readers import Repeated, json_path

__all__ = ["parse_json"]

_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")  # a \ud800-\udfff escape: maybe unpaired


def parse_json(text: str, path: Path) -> Any:
    """``json.loads`` for taxonomy files: repeated keys are an error naming the JSON path,
    any depth of nesting is read, and an unpaired surrogate escape is refused."""
    repeated: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            repeated.append(True)
            seen: set[str] = set()
            obj = Repeated(obj)
            obj.repeated = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
        return obj

    try:
        try:
            obj = json.loads(text, object_pairs_hook=hook)
        except RecursionError:  # nested deeper than the C parser goes
            obj = _loads_iteratively(text, hook)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg} (character {exc.colno})", file=str(path), row=exc.lineno
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise InputError(f"invalid JSON: {str(exc).split(';')[0]}", file=str(path)) from None
    if repeated or _SURROGATE.search(text):
        _check_json(obj, path)
    return obj


def _loads_iteratively(s: str, hook: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    """``json.loads`` without recursion: an explicit stack of open objects and arrays."""
    scan = json.JSONDecoder(object_pairs_hook=hook).scan_once  # scalars only
    stack: list[list[Any]] = []  # [is_object, items, pending key]
    i = _WS.match(s, 0).end()  # type: ignore[union-attr]
    while True:
        c = s[i : i + 1]
        if c == "{" or c == "[":
            frame = [c == "{", [], None]
            i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
            if s[i : i + 1] != ("}" if frame[0] else "]"):
                stack.append(frame)
                i = _json_key(s, i, frame) if frame[0] else i
                continue
            value, i = (hook([]) if frame[0] else []), i + 1
        else:
            try:
                value, i = scan(s, i)
            except StopIteration as exc:
                raise json.JSONDecodeError("Expecting value", s, exc.value) from None
        while True:  # store the finished value; close the containers it completes
            if not stack:
                end = _WS.match(s, i).end()  # type: ignore[union-attr]
                if end != len(s):
                    raise json.JSONDecodeError("Extra data", s, end)
                return value
            frame = stack[-1]
            frame[1].append((frame[2], value) if frame[0] else value)
            i = _WS.match(s, i).end()  # type: ignore[union-attr]
            if s[i : i + 1] == ",":
                i = _WS.match(s, i + 1).end()  # type: ignore[union-attr]
                i = _json_key(s, i, frame) if frame[0] else i
                break
            if s[i : i + 1] != ("}" if frame[0] else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", s, i)
            stack.pop()
            value, i = (hook(frame[1]) if frame[0] else frame[1]), i + 1


def _json_key(s: str, i: int, frame: list[Any]) -> int:
    """Read ``"key" :`` at ``i`` into the frame; return where its value starts."""
    if s[i : i + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, i)
    frame[2], i = scanstring(s, i + 1)
    i = _WS.match(s, i).end()  # type: ignore[union-attr]
    if s[i : i + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", s, i)
    return _WS.match(s, i + 1).end()  # type: ignore[union-attr]


def _check_json(obj: Any, path: Path) -> None:
    """Report the first repeated key or unpaired surrogate, in document order."""
    stack: list[tuple[Any, Any]] = [(obj, None)]
    while stack:
        value, link = stack.pop()
        if isinstance(value, Repeated):
            raise InputError(
                f"{json_path(link)}: key {value.repeated[0]!r} appears more than once in one "
                "object; each key may appear once (merge the values)",
                file=str(path),
            )
        if isinstance(value, dict):
            for k in value:
                _check_string(k, (link, k), path)
            stack.extend((v, (link, k)) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((v, (link, i)) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, str):
            _check_string(value, link, path)


def _check_string(s: str, link: Any, path: Path) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{json_path(link)}: a \\u escape is half of a surrogate pair (\\ud800-\\udfff "
            "without its other half); write the character itself or the full pair",
            file=str(path),
        ) from None
