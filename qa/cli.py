"""The command line: ``qa build | add | remove | search | serve | eval | train | targets``.

A thin layer over the same functions the API uses.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from qa.config import PROJECT_ROOT, Settings, get_settings


class _PlainHelp:
    """Help pages without typer's placeholders (``<bool>`` after a flag, ``<str>``,
    ``<list[Path]>``, ``{query}`` in the usage line): values are named as click names them
    (TEXT, INTEGER, PATH), flags take none, arguments are written ``QUERY``, ``PATH...``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            _plain_value_name(param)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            _plain_value_name(option)
        return option

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_usage(param))
        return pieces


# what click calls the values of these types
_VALUE_NAMES = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}


def _plain_value_name(param) -> None:
    if param.param_type_name == "argument":
        # the argument's own name (QUERY, PATH...) says what it is; typer would add "<str>"
        param.display_type_rich = lambda ctx: None
        return
    if param.metavar is not None:
        return
    if getattr(param, "is_flag", False):
        param.metavar = ""  # a flag takes no value: the type column stays blank
        return
    annotation = param.type_descriptor.annotation
    element = (getattr(annotation, "__args__", None) or (annotation,))[0]
    if element in _VALUE_NAMES:
        param.metavar = _VALUE_NAMES[element]


def _argument_usage(param) -> str:
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if param.required else f"[{name}]"


class PlainCommand(_PlainHelp, TyperCommand):
    pass


class PlainGroup(_PlainHelp, TyperGroup):
    def collect_usage_pieces(self, ctx) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=PlainGroup,
                  help="Search Vietnamese local-government documents.")


def _default_path(name: str) -> str:
    """Settings' default for a path field, relative to the project where it is inside it."""
    path = Path(Settings.model_fields[name].default)
    try:
        return f"{path.relative_to(PROJECT_ROOT)}/ in the project, {PROJECT_ROOT}"
    except ValueError:
        return str(path)


# Written into the help text: typer shows no default for a None default, and the real one
# comes from Settings (environment variable, else the project's folder).
IndexOpt = typer.Option(None, "--index", metavar="FOLDER",
                        help=f"Index folder \\[default: {_default_path('index')}; env QA_INDEX]")
CorpusOpt = typer.Option(None, "--corpus", metavar="PATH",
                         help=f"Folder, file or JSONL corpus \\[default: {_default_path('corpus')}; env QA_CORPUS]")
ModelOpt = typer.Option(None, "--model", metavar="NAME",
                        help="sentence-transformers model name or folder \\[default: the built-in "
                             "multilingual-e5-small; env QA_MODEL]")


def _fail(message: str) -> NoReturn:
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def _warn(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.YELLOW)


def _settings(**kwargs) -> Settings:
    return get_settings(**kwargs)


def _supported_types() -> str:
    from qa.documents import CORPUS_SUFFIXES, FILE_SUFFIXES

    return " ".join(FILE_SUFFIXES + CORPUS_SUFFIXES)


# -- build ----------------------------------------------------------------------


@app.command(cls=PlainCommand)
def build(
    corpus: Optional[Path] = CorpusOpt,
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
    if_stale: bool = typer.Option(False, "--if-stale", help="Only build when the index is missing or out of date"),
) -> None:
    """Build the whole index of a corpus (a new build, switched to atomically).

    Files that cannot be read are listed as skipped; when nothing could be indexed the
    command fails and the index stays as it was.
    """
    from qa.documents import DocumentError
    from qa.store import StoreError, build_index, index_is_current

    settings = _settings(corpus=corpus, index=index, model=model)
    if not settings.corpus.exists():
        _fail(f"No corpus at {settings.corpus}.")
    if if_stale and index_is_current(settings):
        typer.echo(f"Index in {settings.index} is up to date.")
        return
    try:
        report = build_index(settings.corpus, settings)
    except (DocumentError, StoreError) as error:
        _fail(str(error))
    for error in report.errors:
        _warn(f"skipped: {error}")
    if report.documents == 0:
        _fail(f"Nothing was indexed: no readable document in {settings.corpus} "
              f"(the types read are {_supported_types()}).")
    typer.echo(
        f"Indexed {report.documents} documents, {report.passages} passages in {report.seconds:.1f} s: "
        f"{report.passages_per_second:.1f} passages/s overall, "
        f"{report.passages / report.embed_seconds if report.embed_seconds else 0:.1f} passages/s embedding."
        + (f" Skipped {len(report.errors)} file(s)." if report.errors else "")
    )


# -- add ------------------------------------------------------------------------


@app.command(cls=PlainCommand)
def add(
    paths: list[Path] = typer.Argument(..., metavar="PATH...",
                                       help=f"Files or folders of documents ({_supported_types()})"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
) -> None:
    """Add (or replace) the documents at each PATH without a full rebuild.

    A document whose text has not changed is left as it is. Files that cannot be read
    are skipped with the reason, the others are still indexed; the command then fails.
    """
    from qa.store import AddReport, Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        opened = Index.open(settings)
    except StoreError as error:
        _fail(str(error))
    total = AddReport()
    for path in paths:
        try:
            report = opened.add(path)
        except StoreError as error:
            _fail(str(error))
        for doc_id in report.changed:
            typer.echo(f"indexed: {doc_id}")
        for doc_id in report.unchanged:
            typer.echo(f"unchanged: {doc_id}")
        for error in report.errors:
            _warn(f"skipped: {error}")
        total.changed += report.changed
        total.unchanged += report.unchanged
        total.errors += report.errors
    summary = f"{len(total.changed)} indexed, {len(total.unchanged)} unchanged, {len(total.errors)} skipped."
    if total.errors:
        _fail(summary)
    typer.echo(summary if total.changed or total.unchanged else "Nothing changed.")


# -- remove ---------------------------------------------------------------------


def find_document(documents: dict, given: str) -> tuple[str | None, list[str]]:
    """The id of the document ``given`` names, and otherwise the ids it may have meant.

    ``given`` is a document id, or the name (or path) of the file it was read from:
    ``x.docx`` names the document read from ``x.docx`` (its id is usually ``x``)."""
    if given in documents:
        return given, []
    name = Path(given).name
    by_file = [d.id for d in documents.values() if d.source and _source_name(d.source) in (name, given)]
    if len(by_file) == 1:
        return by_file[0], []
    if by_file:  # one file (a JSONL corpus) holds several documents: the id decides
        return None, by_file
    stem = name.split(".")[0]
    return None, difflib.get_close_matches(stem, list(documents), n=3, cutoff=0.6)


def _source_name(source: str) -> str:
    # a JSONL record's source is "<file>:<line>"
    path = source.rsplit(":", 1)[0] if source.rsplit(":", 1)[-1].isdigit() else source
    return Path(path).name


@app.command(cls=PlainCommand)
def remove(
    doc_id: str = typer.Argument(..., metavar="DOC_ID",
                                 help="The document's id (GET /documents lists them), or the name of the file "
                                      "it was indexed from"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
) -> None:
    """Remove the document DOC_ID and its passages.

    A document's id is its file name without the extension (corpus/x.txt is x) or, in a
    JSONL corpus, its record's "_id"; the id shows in `qa search` output and in
    GET /documents. The file name itself (x.txt) is accepted too.
    """
    from qa.store import Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        opened = Index.open(settings)
        found, maybe = find_document(opened.documents(), doc_id)
        if found is None:
            _fail(_not_found(doc_id, maybe, settings.index))
        removed = opened.remove(found)
    except KeyError:  # removed meanwhile by another process
        _fail(_not_found(doc_id, [], settings.index))
    except StoreError as error:
        _fail(str(error))
    typer.echo(f"Removed {found} ({removed} passages).")


def _not_found(given: str, maybe: list[str], index: Path) -> str:
    message = f"No document with the id {given!r} in {index}."
    if maybe:
        message += " Did you mean: " + ", ".join(maybe) + "?"
    return message + " Document ids are shown by `qa search` and GET /documents."


# -- relations ------------------------------------------------------------------

# How `qa relations` words each kind of relation, seen from the document shown.
RELATION_WORDS = {
    "outgoing": {"based_on": "based on", "guides": "guides", "amends": "amends", "replaces": "replaces",
                 "repeals": "repeals", "corrects": "corrects"},
    "incoming": {"based_on": "cited as a basis by", "guides": "guided by", "amends": "amended by",
                 "replaces": "replaced by", "repeals": "repealed by", "corrects": "corrected by"},
}


def relations_lines(related, title: str) -> list[str]:
    """``qa relations`` as lines: the number, the status with its evidence, the relations both ways."""
    status = related.status
    number = f"{related.number} ({related.number_key})" if related.number else "no number"
    lines = [f"{related.id}: {title}", f"Number: {number}",
             f"Status: {status.label} ({status.status})"
             + (f", in force from {status.effective_date}" if status.effective_date else "")
             + (f", until {status.end_date}" if status.end_date else "")]
    lines += [f"  evidence ({e.kind}, {e.doc_id}): {e.passage[:300]}" for e in status.evidence]
    for direction, relations in (("outgoing", related.relations.outgoing), ("incoming", related.relations.incoming)):
        lines.append(f"{'This document' if direction == 'outgoing' else 'Other indexed documents'} "
                     f"({direction}): {len(relations)}")
        for r in relations:
            if direction == "outgoing":
                cited = " ".join(x for x in (r.cited_title, r.cited_date) if x)
                target = f" → {r.linked_id}" if r.linked_id else " (not indexed)"
            else:
                cited, target = f"{r.linked_number or r.linked_title}", f" → {r.linked_id}"
            partly = " (in part)" if r.partial else ""
            lines.append(f"  {RELATION_WORDS[direction][r.kind]}{partly}: {cited}{target}")
            lines.append(f"      “{r.evidence.passage[:300]}”")
    return lines


@app.command(cls=PlainCommand)
def relations(
    doc_id: str = typer.Argument(..., metavar="DOC_ID",
                                 help="The document's id (GET /documents lists them), or the name of the file "
                                      "it was indexed from"),
    as_json: bool = typer.Option(False, "--json", help="As JSON: the number, status and relations fields of "
                                                        "GET /documents/{id}"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
) -> None:
    """The number of DOC_ID, whether it is in force (with the evidence), and its relations
    both ways: what it is based on, amends, replaces…, and which indexed documents amend,
    replace or cite it."""
    from qa.relations_api import document_relations
    from qa.store import Index, StoreError

    settings = _settings(index=index, model=model)
    try:
        opened = Index.open(settings)
        with opened.reading():
            found, maybe = find_document(opened.documents(), doc_id)
            if found is None:
                _fail(_not_found(doc_id, maybe, settings.index))
            related = document_relations(opened, found)
            title = opened.documents()[found].title
    except StoreError as error:
        _fail(str(error))
    if as_json:
        typer.echo(related.model_dump_json(indent=1))
        return
    typer.echo("\n".join(relations_lines(related, title)))


# -- search ---------------------------------------------------------------------


def result_lines(rank: int, result) -> list[str]:
    from qa.relations import STATUS_LABELS

    """One result of ``qa search``, as lines: the answer, where it comes from, its score.
    Only the fields a document has: no "(báo cáo, )" for a missing date."""
    doc = result.doc
    details = ", ".join(v for v in (doc.number or doc.type, doc.date) if v)
    source = (doc.title or doc.id) + (f" ({details})" if details else "")
    if result.section:
        source += f" › {result.section}"
    answer = result.answer or result.text[:200]
    status = getattr(result, "status", "unknown")
    validity = f" · {STATUS_LABELS.get(status, status)}" if status != "unknown" else ""  # "Chưa rõ" on every line says nothing
    return [f"{rank}. {answer}", f"   {source}", f"   score {result.score:.4f} · passage {result.id}{validity}"]


@app.command(cls=PlainCommand)
def search(
    query: str = typer.Argument(..., metavar="QUERY", help="The question or keywords, with or without diacritics"),
    k: int = typer.Option(5, "--k", min=1, max=100, help="How many results"),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical or dense"),
    district: Optional[str] = typer.Option(None, "--district", help="Only documents of this district, e.g. Tây Hồ"),
    year: Optional[int] = typer.Option(None, "--year", help="Only documents about this year"),
    type: Optional[str] = typer.Option(None, "--type", help="Only documents of this type: nghị quyết, báo cáo, tin bài"),
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
    if not body.results:
        typer.echo(response.message or "No results.")
        return
    for rank, r in enumerate(body.results, 1):
        first, *rest = result_lines(rank, r)
        typer.secho(first, bold=True)
        for line in rest:
            typer.echo(line)
    typer.echo(f"{body.total} candidates, {body.took_ms:.0f} ms")


# -- serve ----------------------------------------------------------------------


def settings_environment(**overrides) -> dict[str, str]:
    """Command-line settings as ``QA_*`` variables: worker processes build their own
    Settings from the environment (``qa.api:create_app`` called with no arguments)."""
    env = {}
    for name, value in overrides.items():
        if value is None:
            continue
        env[f"QA_{name.upper()}"] = str(value.resolve() if isinstance(value, Path) else value)
    return env


@app.command(cls=PlainCommand)
def serve(
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
    host: Optional[str] = typer.Option(None, "--host", help="\\[default: 127.0.0.1; env QA_HOST]"),
    port: Optional[int] = typer.Option(None, "--port", help="\\[default: 8000; env QA_PORT]"),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Worker processes, each with its own copy of the model and the index"),
) -> None:
    """Serve the API and the web page."""
    import uvicorn

    settings = _settings(index=index, model=model, host=host, port=port)
    if workers == 1:
        from qa.api import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
        return
    # Several processes need the app as an import string; they read the settings from the environment.
    os.environ.update(settings_environment(index=index, model=model))
    uvicorn.run("qa.api:create_app", factory=True, workers=workers, host=settings.host, port=settings.port)


# -- eval, train ----------------------------------------------------------------


@app.command("eval", cls=PlainCommand)
def evaluate(
    dataset: Path = typer.Option(..., "--dataset", help="A BEIR-format folder, or eval/datasets/district-docs"),
    mode: list[str] = typer.Option(["lexical", "dense", "hybrid"], "--mode"),
    k: int = typer.Option(10, "--k"),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N queries (a smoke run)"),
    output: Path = typer.Option(Path("eval/reports"), "--output"),
    index: Optional[Path] = typer.Option(None, "--index", metavar="FOLDER",
                                         help="Index to use/build for the dataset's corpus"),
    model: Optional[str] = ModelOpt,
    archive: bool = typer.Option(True, "--archive/--no-archive",
                                 help="Also evaluate the development set on the development archive"),
) -> None:
    """Measure retrieval quality and speed on a dataset; write JSON, Markdown and PNG reports.

    eval/datasets/targets and eval/datasets/relations measure extraction instead
    (targets; relations, linking and number lookup) and write their own reports."""
    from qa.evaluation import main

    if (dataset / "corpus_scopes.json").is_file():
        from qa.targets_eval import write_reports

        typer.echo(write_reports(output))
        return
    if (dataset / "relations.jsonl").is_file():
        from qa.relations_eval import write_report

        typer.echo(write_report(output))
        return
    try:
        main(dataset=dataset, modes=mode, k=k, limit=limit, output=output,
             settings=_settings(index=index, model=model), archive=archive)
    except (ValueError, FileNotFoundError) as error:
        _fail(str(error))


@app.command(cls=PlainCommand)
def train(
    dataset: Path = typer.Option(Path("eval/datasets/district-docs"), "--dataset", help="The development set"),
    index: Optional[Path] = typer.Option(None, "--index", metavar="FOLDER",
                                         help="Index folder (the archive is built beneath it)"),
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


@app.command(cls=PlainCommand)
def bench(
    distractors: int = typer.Option(150, "--distractors", help="Local-government documents beside the corpus"),
) -> None:
    """Measure speed at archive scale in one run (about 20 minutes): encoding, builds,
    served latency, concurrency, lexical and dense search at 80k and 1M passages; write
    eval/reports/bench.md and bench.json."""
    from qa.bench import main

    main(distractors, settings=_settings())


# -- targets --------------------------------------------------------------------

# The spreadsheet's columns, in order: one line a record.
TARGET_CSV_COLUMNS = ("indicator_id", "indicator", "wording", "period", "period_kind", "district", "kind",
                      "comparator", "value", "value_written", "high", "unit", "compares_to", "doc_id", "doc_number",
                      "doc_title", "section", "passage_id", "quote")
TARGET_TABLE_HEADERS = ("period", "district", "kind", "value", "unit", "compared with", "source")


def target_rows(body) -> list[dict[str, object]]:
    """``qa targets --csv``: the records of a /targets body, one dict a record."""
    rows = []
    for ind in body.indicators:
        for r in ind.records:
            s = r.source
            rows.append({"indicator_id": ind.id, "indicator": ind.name, "wording": r.indicator, "period": r.period,
                         "period_kind": r.period_kind, "district": r.district, "kind": r.kind,
                         "comparator": r.comparator_written, "value": r.value, "value_written": r.value_written,
                         "high": r.high, "unit": r.unit, "compares_to": r.compares_to, "doc_id": s.doc_id,
                         "doc_number": s.doc_number, "doc_title": s.doc_title, "section": s.section,
                         "passage_id": s.passage_id, "quote": s.quote})
    return rows


def target_table_lines(body) -> list[str]:
    """``qa targets`` as a plain table: each indicator, then its records in columns."""
    lines = []
    for ind in body.indicators:
        lines.append(f"{ind.name}  [{ind.id}]")
        cells = [[r.period or "–", r.district or "–", r.kind,
                  " ".join(x for x in (r.comparator_written, r.value_written) if x), r.unit or "–",
                  r.compares_to or "–",
                  f"{r.source.doc_number or r.source.doc_id}, passage {r.source.passage_id}"] for r in ind.records]
        widths = [max(len(row[i]) for row in [TARGET_TABLE_HEADERS, *cells]) for i in range(len(TARGET_TABLE_HEADERS))]
        for row in [TARGET_TABLE_HEADERS, *cells]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        lines.append("")
    return lines


@app.command(cls=PlainCommand)
def targets(
    query: str = typer.Argument(..., metavar="QUERY", help="An indicator, with or without diacritics: bảo hiểm y tế"),
    district: Optional[str] = typer.Option(None, "--district", help="Only records of this district, e.g. Tây Hồ"),
    year: Optional[int] = typer.Option(None, "--year", min=1900, max=2100, help="Only records of periods in this year"),
    limit: int = typer.Option(10, "--limit", min=1, max=100, help="How many indicators"),
    as_json: bool = typer.Option(False, "--json", help="Print the GET /targets response body"),
    as_csv: bool = typer.Option(False, "--csv", help="One line a record, for a spreadsheet"),
    output: Optional[Path] = typer.Option(None, "--output", metavar="FILE",
                                          help="Write there instead of to the screen (a .csv opens in a "
                                               "spreadsheet: UTF-8 with a byte-order mark)"),
    index: Optional[Path] = IndexOpt,
    model: Optional[str] = ModelOpt,
) -> None:
    """The targets and reported figures of indicators matching QUERY, as GET /targets
    gives them: for each, its plans, estimates, results and comparisons by period and
    district, with the document and passage each comes from."""
    import csv
    import io

    from qa.api import ApiError
    from qa.query import QueryError
    from qa.search import Searcher
    from qa.store import Index, StoreError
    from qa.targets_api import targets_out

    if as_json and as_csv:
        _fail("Choose one of --json and --csv.")
    settings = _settings(index=index, model=model)
    try:
        body = targets_out(Searcher(Index.open(settings)), query, district, year, limit)
    except (QueryError, StoreError) as error:
        _fail(str(error))
    except ApiError as error:
        _fail(error.detail)
    if as_json:
        text = json.dumps(body.model_dump(), ensure_ascii=False, indent=2) + "\n"
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TARGET_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(target_rows(body))
        text = buffer.getvalue()
    elif not body.indicators:
        text = f"No indicator matches {query!r}" + (" with these filters" if district or year else "") + ".\n"
    else:
        shown = f"{len(body.indicators)} of {body.total}" if body.total > len(body.indicators) else str(body.total)
        text = "\n".join(target_table_lines(body)) + f"{shown} indicator(s), {body.took_ms:.0f} ms\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8-sig" if as_csv else "utf-8")
    except OSError as error:
        _fail(f"Cannot write {output}: {error.strerror or error}")
    typer.echo(f"Written: {output}", err=True)


if __name__ == "__main__":
    app()
