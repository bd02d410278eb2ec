"""`ncsweep data shard`: write an ImageFolder tree as tar shards that training streams."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ..config import SpecError
from ._app import app, console
from ._help import examples

data_app = typer.Typer(help="Datasets: prepare data for streaming.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command(
    "shard",
    epilog=examples(
        "ncsweep data shard --root ~/imagenet --out s3://datasets/imagenet-shards",
        "ncsweep data shard --root ./imagenet100 --out ./shards --shard-size 500 --splits train",
    ),
)
def shard(
    root: Annotated[
        Path, typer.Option(help="ImageFolder root: train/<class>/*.JPEG and val/<class>/*.JPEG.")
    ],
    out: Annotated[str, typer.Option(help="Where the shards go: a folder or s3://bucket/prefix.")],
    shard_size: Annotated[int, typer.Option(help="Samples per shard.", min=1)] = 1000,
    splits: Annotated[str, typer.Option(help="Comma-separated splits to write.")] = "train,val",
    seed: Annotated[int, typer.Option(help="Seeds the order of the samples across shards.")] = 0,
) -> None:
    """Write <out>/<split>-000000.tar ... and <out>/<split>-index.json for each split; a spec
    then reads them with data.name=imagenet_shards and data.root=<out>."""
    from ..data import DatasetNotFoundError
    from ..data.shards import write_shards

    wanted = [s.strip() for s in splits.split(",") if s.strip()]
    missing = [root / s for s in wanted if not (root / s).is_dir()]
    if not wanted or missing:
        raise SpecError(
            f"--root {root}: no directory {', '.join(map(str, missing)) or '(no --splits)'}; "
            "--root must hold the ImageFolder layout train/<class>/*.JPEG and val/<class>/*.JPEG"
        )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as bar:
        for split in wanted:
            task = bar.add_task(split, total=None)

            def advance(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                index = write_shards(
                    root,
                    out,
                    split,
                    shard_size,
                    seed,
                    progress=advance,
                )
            except (DatasetNotFoundError, ValueError) as err:
                raise SpecError(str(err)) from None
            bar.console.print(
                f"{split}: {index['samples']} samples, {len(index['classes'])} classes, "
                f"{len(index['shards'])} shard(s) in {out}"
            )
