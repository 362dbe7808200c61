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


class ReadFormat(StrEnum):
    nested = "nested"
    edges = "edges"
    ranks = "ranks"
    node_link = "node-link"
    dwc = "dwc"
    inat = "inat"
    lineage = "lineage"
    nabirds = "nabirds"


FORMATS_HELP = (
    "Formats, detected from the file: nested JSON, node-link JSON, edge list (parent,child), "
    "rank columns (order,family,...), Darwin Core Taxon (taxonID, parentNameUsageID; GBIF, "
    "iNaturalist), iNaturalist taxonomy.csv (parent_taxon_id, taxon_id), lineage strings "
    "(k__Bacteria;p__Firmicutes or A|B|C; QIIME, GTDB), NABirds hierarchy.txt (+ classes.txt)."
)
FileArg = Annotated[Path, typer.Argument(help="Taxonomy file. " + FORMATS_HELP, show_default=False)]
AddRootOpt = Annotated[
    bool, typer.Option("--add-root", help="Join several roots under a virtual root.")
]
FormatOpt = Annotated[
    ReadFormat | None,
    typer.Option("--format", help="Read the file as this format instead of detecting it."),
]
QualifyOpt = Annotated[
    bool,
    typer.Option(
        "--qualify-names",
        help="Rank columns and lineages: a name under several parents becomes one "
        "taxon per parent, named 'Name (Parent)', instead of an error.",
    ),
]


def _load(path: Path, add_root: bool, fmt: ReadFormat | None = None, qualify: bool = False):
    from taxovit.errors import InputError
    from taxovit.taxonomy import load_taxonomy

    if str(path) == "-":
        raise InputError(
            "a taxonomy is not read from standard input; give the file's path", file="-"
        )
    return load_taxonomy(
        path, None if fmt is None else fmt.value, add_root=add_root, qualify_names=qualify
    )


@taxonomy_app.command("info")
@handle_errors
def taxonomy_info(
    file: FileArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    add_root: AddRootOpt = False,
    fmt: FormatOpt = None,
    qualify_names: QualifyOpt = False,
) -> None:
    """Show nodes, leaves, depth range, ranks with counts, and whether it is a tree or a DAG.

    Taxonomies keyed by id (Darwin Core, iNaturalist, NABirds) show the root's id and name
    and how many nodes have a name. Formats: nested/node-link JSON, edge list, rank columns,
    Darwin Core Taxon, iNaturalist taxonomy.csv, lineage strings, NABirds hierarchy.txt.

    [bold]Example[/]:  taxovit taxonomy info taxonomies/birds.json
    """
    from taxovit.taxonomy.describe import info_table

    s = _load(file, add_root, fmt, qualify_names).summary()
    if json_out:
        sys.stdout.write(json.dumps({"file": str(file), **s}, indent=2) + "\n")
    else:
        out_console.print(info_table(s, str(file)))


@taxonomy_app.command("validate")
@handle_errors
def taxonomy_validate(
    file: FileArg,
    add_root: AddRootOpt = False,
    fmt: FormatOpt = None,
    qualify_names: QualifyOpt = False,
) -> None:
    """Check a taxonomy: one root, no cycle, non-empty unique names, no duplicate edge.

    Exit status 0 when valid, 2 with the problem named (file, line, column) otherwise.
    Formats: nested/node-link JSON, edge list, rank columns, Darwin Core Taxon, iNaturalist
    taxonomy.csv, lineage strings, NABirds hierarchy.txt.
    """
    from taxovit.taxonomy.describe import validity_line

    out_console.print(validity_line(_load(file, add_root, fmt, qualify_names).summary(), str(file)))


@taxonomy_app.command("convert")
@handle_errors
def taxonomy_convert(
    src: Annotated[
        Path, typer.Argument(help="Input taxonomy (format detected).", show_default=False)
    ],
    dst: Annotated[
        str, typer.Argument(help="Output file.", show_default=False)
    ],  # str: keeps a "/"
    to: Annotated[
        TaxonomyFormat | None,
        typer.Option(
            "--to",
            help="Output format (default from the extension: .json nested, .csv/.tsv edges).",
        ),
    ] = None,
    add_root: AddRootOpt = False,
    fmt_in: FormatOpt = None,
    qualify_names: QualifyOpt = False,
) -> None:
    """Convert between taxonomy formats.

    Reads every format (nested/node-link JSON, edge list, rank columns, Darwin Core Taxon,
    iNaturalist taxonomy.csv, lineage strings, NABirds hierarchy.txt); writes nested,
    edges, ranks or node-link.

    DST is checked before anything is read or written: never the input itself nor a folder;
    missing folders are created; the file is written atomically; [bold]-[/] writes to
    standard output (give --to). A .tsv destination is tab-separated.

    [bold]Examples[/]

      taxovit taxonomy convert taxonomies/birds.json birds_edges.csv

      taxovit taxonomy convert birds.json birds_ranks.tsv --to ranks

      taxovit taxonomy convert imagenet1k.json imagenet.json --to node-link
    """
    from taxovit._outputs import OutputError, OutputPlan
    from taxovit.errors import TaxonomyError
    from taxovit.taxonomy.io import FORMATS, format_for_path, taxonomy_inputs, taxonomy_text

    plan = OutputPlan(taxonomy_inputs("input taxonomy", src, fmt_in and fmt_in.value))
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
    tax = _load(src, add_root, fmt_in, qualify_names)
    try:
        text = taxonomy_text(tax, fmt, dst)  # type: ignore[arg-type]
    except TaxonomyError as exc:
        how = "--to" if to is not None else "format from the extension:"
        raise OutputError(f"DST {dst} ({how} {fmt}): cannot write {src} as {fmt}: {exc}") from None
    plan.write({out: text})
    if out.kind != "stdout":
        out_console.print(f"wrote {dst}")
