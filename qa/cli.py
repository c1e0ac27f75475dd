"""The command line: ``qa build | add | remove | search | serve | eval | train``.

A thin layer over the same functions the API uses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from qa.config import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Search Vietnamese local-government documents.")

IndexOpt = typer.Option(None, "--index", help="Index directory [env QA_INDEX]")
ModelOpt = typer.Option(None, "--model", help="sentence-transformers model name or folder [env QA_MODEL]")


def _fail(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def _settings(**kwargs) -> Settings:
    return get_settings(**kwargs)


@app.command()
def build(
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Folder, file or JSONL corpus [env QA_CORPUS]"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
    if_stale: bool = typer.Option(False, "--if-stale", help="Only build when the index is missing or out of date"),
) -> None:
    """Build the whole index of a corpus (a new build, switched to atomically)."""
    from qa.store import build_index, index_is_current

    settings = _settings(corpus=corpus, index=index, model=model)
    if not settings.corpus.exists():
        _fail(f"No corpus at {settings.corpus}.")
    if if_stale and index_is_current(settings):
        typer.echo(f"Index in {settings.index} is up to date.")
        return
    report = build_index(settings.corpus, settings)
    for error in report.errors:
        typer.secho(f"skipped: {error}", err=True, fg=typer.colors.YELLOW)
    typer.echo(
        f"Indexed {report.documents} documents, {report.passages} passages in {report.seconds:.1f} s: "
        f"{report.passages_per_second:.1f} passages/s overall, "
        f"{report.passages / report.embed_seconds if report.embed_seconds else 0:.1f} passages/s embedding."
    )


@app.command()
def add(path: Path, index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt) -> None:
    """Add (or replace) the document(s) at PATH without a full rebuild."""
    from qa.documents import DocumentError
    from qa.store import Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        changed = Index.open(settings).add(path)
    except (DocumentError, StoreError) as error:
        _fail(str(error))
    typer.echo(f"Indexed: {', '.join(changed)}" if changed else "Nothing changed.")


@app.command()
def remove(doc_id: str, index: Optional[Path] = IndexOpt, model: Optional[str] = ModelOpt) -> None:
    """Remove the document DOC_ID and its passages."""
    from qa.store import Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        removed = Index.open(settings).remove(doc_id)
    except KeyError:
        _fail(f"No document with the id {doc_id!r} in {settings.index}.")
    except StoreError as error:
        _fail(str(error))
    typer.echo(f"Removed {doc_id} ({removed} passages).")


@app.command()
def search(
    query: str,
    k: int = typer.Option(5, "--k", min=1, max=100),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical or dense"),
    district: Optional[str] = None,
    year: Optional[int] = None,
    type: Optional[str] = typer.Option(None, "--type"),
    as_json: bool = typer.Option(False, "--json", help="Print the /search response body"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
) -> None:
    """Search the index, as GET /search does."""
    from qa.api import search_out
    from qa.query import QueryError
    from qa.search import Filters, Searcher
    from qa.store import Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        response = Searcher(Index.open(settings)).search(query, k=k, mode=mode, filters=Filters(district, year, type))
    except (QueryError, StoreError) as error:
        _fail(str(error))
    body = search_out(response)
    if as_json:
        json.dump(body.model_dump(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    for rank, r in enumerate(body.results, 1):
        doc = r.doc
        typer.secho(f"{rank}. {r.answer}", bold=True)
        typer.echo(f"   {doc.title} ({doc.number or doc.type}, {doc.date}) › {r.section}")
        typer.echo(f"   score {r.score:.4f} · passage {r.id}")
    typer.echo(f"{body.total} candidates, {body.took_ms:.0f} ms")


@app.command()
def serve(
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
    host: Optional[str] = typer.Option(None, "--host", help="[env QA_HOST]"),
    port: Optional[int] = typer.Option(None, "--port", help="[env QA_PORT]"),
) -> None:
    """Serve the API and the web page."""
    import uvicorn

    from qa.api import create_app

    settings = _settings(index=index, model=model, host=host, port=port)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


@app.command("eval")
def evaluate(
    dataset: Path = typer.Option(..., "--dataset", help="A BEIR-format folder, or eval/datasets/district-docs"),
    mode: list[str] = typer.Option(["lexical", "dense", "hybrid"], "--mode"),
    k: int = typer.Option(10, "--k"),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N queries (a smoke run)"),
    output: Path = typer.Option(Path("eval/reports"), "--output"),
    index: Optional[Path] = typer.Option(None, "--index", help="Index to use/build for the dataset's corpus"),
    model: Optional[str] = ModelOpt,
    archive: bool = typer.Option(True, "--archive/--no-archive",
                                 help="Also evaluate the development set on the development archive"),
) -> None:
    """Measure retrieval quality and speed on a dataset; write JSON, Markdown and PNG reports."""
    from qa.evaluation import main

    try:
        main(dataset=dataset, modes=mode, k=k, limit=limit, output=output,
             settings=_settings(index=index, model=model), archive=archive)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))


@app.command()
def train(
    dataset: Path = typer.Option(Path("eval/datasets/district-docs"), "--dataset", help="The development set"),
    index: Optional[Path] = typer.Option(None, "--index", help="Index folder (the archive is built beneath it)"),
    model: Optional[str] = ModelOpt,
    archive: bool = typer.Option(True, "--archive/--no-archive", help="Train on the development archive too"),
) -> None:
    """Fit the ranker and the answer model (cross-validated); write qa/data/ranking.json
    and eval/reports/ranking.md with held-out numbers."""
    from qa.training import main

    try:
        main(dataset, settings=_settings(index=index, model=model), archive=archive)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))


if __name__ == "__main__":
    app()
