"""``taxovit taxonomy info|validate|convert``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from taxovit.cli import handle_errors, out_console, taxonomy_app


class TaxonomyFormat(StrEnum):
    nested = "nested"
    edges = "edges"
    ranks = "ranks"
    node_link = "node-link"


FileArg = Annotated[Path, typer.Argument(help="Taxonomy file.", show_default=False)]
AddRootOpt = Annotated[bool, typer.Option(
    "--add-root", help="Join several roots under a virtual root.")]  # fmt: skip


def _load(path: Path, add_root: bool):
    from taxovit.errors import InputError
    from taxovit.taxonomy import load_taxonomy

    if str(path) == "-":
        raise InputError(
            "a taxonomy is not read from standard input; give the file's path", file="-"
        )
    return load_taxonomy(path, add_root=add_root)


@taxonomy_app.command("info")
@handle_errors
def taxonomy_info(
    file: FileArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    add_root: AddRootOpt = False,
) -> None:
    """Show nodes, leaves, depth range, ranks with counts, and whether it is a tree or a DAG.

    [bold]Example[/]:  taxovit taxonomy info taxonomies/birds.json
    """
    from taxovit.taxonomy.describe import info_table

    s = _load(file, add_root).summary()
    if json_out:
        sys.stdout.write(json.dumps({"file": str(file), **s}, indent=2) + "\n")
    else:
        out_console.print(info_table(s, str(file)))


@taxonomy_app.command("validate")
@handle_errors
def taxonomy_validate(file: FileArg, add_root: AddRootOpt = False) -> None:
    """Check a taxonomy: one root, no cycle, non-empty unique names, no duplicate edge.

    Exit status 0 when valid, 2 with the problem named otherwise.
    """
    from taxovit.taxonomy.describe import validity_line

    out_console.print(validity_line(_load(file, add_root).summary(), str(file)))


@taxonomy_app.command("convert")
@handle_errors
def taxonomy_convert(
    src: Annotated[Path, typer.Argument(help="Input taxonomy (format detected).",
                                        show_default=False)],  # fmt: skip
    dst: Annotated[Path, typer.Argument(help="Output file.", show_default=False)],
    to: Annotated[TaxonomyFormat | None, typer.Option(
        "--to", help="Output format (default from the extension: .json nested, .csv/.tsv edges)."
    )] = None,  # fmt: skip
    add_root: AddRootOpt = False,
) -> None:
    """Convert between taxonomy formats.

    DST is checked before anything is read or written: never the input itself nor a folder;
    missing folders are created; the file is written atomically; [bold]-[/] writes to
    standard output (give --to). A .tsv destination is tab-separated.

    [bold]Examples[/]

      taxovit taxonomy convert taxonomies/birds.json birds_edges.csv

      taxovit taxonomy convert birds.json birds_ranks.tsv --to ranks

      taxovit taxonomy convert imagenet1k.json imagenet.json --to node-link
    """
    from taxovit._outputs import OutputError, OutputPlan
    from taxovit.taxonomy.io import FORMATS, format_for_path, taxonomy_text

    plan = OutputPlan({"input taxonomy": src})
    out = plan.file("DST", dst)
    if to is not None:
        fmt = to.value
    else:
        try:
            fmt = format_for_path(dst)
        except ValueError:
            raise OutputError(
                f"DST {dst}: cannot tell the format from the name (.json: nested, .csv/.tsv: "
                f"edges); pass --to ({', '.join(FORMATS)})"
            ) from None
    text = taxonomy_text(_load(src, add_root), fmt, dst)  # type: ignore[arg-type]
    plan.write({out: text})
    if out.kind != "stdout":
        out_console.print(f"wrote {dst}")
