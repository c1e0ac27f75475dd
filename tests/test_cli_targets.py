"""``qa targets`` on the real index of the real corpus: the plain table, --json (the
/targets body), --csv for a spreadsheet (stdout or --output), filters and errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from qa.cli import TARGET_CSV_COLUMNS, app

BHYT = "ty-le-bao-phu-bao-hiem-y-te"


@pytest.fixture
def run(settings, built_index):
    """``qa targets ARGS --index <the session's index>`` in this process."""
    runner = CliRunner()
    env = {"QA_MODEL_CACHE": str(settings.model_cache), "COLUMNS": "200", "NO_COLOR": "1"}

    def invoke(*args: str):
        return runner.invoke(app, ["targets", *args, "--index", str(settings.index)], env=env, prog_name="qa")

    return invoke


def test_plain_table_of_each_indicator_with_its_records(run):
    result = run("bảo hiểm y tế", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Tỷ lệ bao phủ bảo hiểm y tế  [{BHYT}]"
    header = lines[1].split()
    assert header[:3] == ["period", "district", "kind"] and "source" in header
    btl = next(line for line in lines if "Bắc Từ Liêm" in line)
    assert btl.split()[:5] == ["2021", "Bắc", "Từ", "Liêm", "plan"] and "91,5" in btl and "21/NQ-HĐND, passage" in btl
    tay_ho = next(line for line in lines if "Tây Hồ" in line)
    assert tay_ho.split()[0] == "2020-2025" and " 95 " in tay_ho
    # columns line up: every record's value starts under the "value" header
    at = lines[1].index("value")
    assert btl[at:].startswith("91,5") and tay_ho[at:].startswith("95")
    assert lines[-1].startswith("2 of ") and "indicator(s)" in lines[-1]


def test_json_is_the_api_body(run, built_index, settings, embedder):
    from fastapi.testclient import TestClient

    from qa.api import create_app

    result = run("chi tieu bhyt nam 2021", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    with TestClient(create_app(settings, embedder)) as client:
        api = client.get("/targets", params={"q": "chi tieu bhyt nam 2021"}).json()
    assert {k: v for k, v in body.items() if k != "took_ms"} == {k: v for k, v in api.items() if k != "took_ms"}
    assert body["indicators"][0]["id"] == BHYT


def test_csv_for_a_spreadsheet(run, tmp_path):
    result = run("bảo hiểm y tế", "--csv", "--district", "Bắc Từ Liêm", "--year", "2021")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and tuple(rows[0]) == TARGET_CSV_COLUMNS
    assert all(r["district"] == "Bắc Từ Liêm" for r in rows)
    coverage = next(r for r in rows if r["indicator_id"] == BHYT)
    assert (coverage["value"], coverage["value_written"], coverage["unit"], coverage["kind"], coverage["period"]) == \
        ("91.5", "91,5", "%", "plan", "2021")
    assert coverage["doc_number"] == "21/NQ-HĐND" and coverage["passage_id"].isdigit()
    people = next(r for r in rows if r["value_written"] == "259.195")
    assert people["wording"].endswith("› Số người đóng bảo hiểm y tế") and people["unit"] == "Người"

    # to a file: UTF-8 with a byte-order mark, so that a spreadsheet reads the diacritics
    out = tmp_path / "chi-tieu.csv"
    result = run("bảo hiểm y tế", "--csv", "--output", str(out))
    assert result.exit_code == 0 and str(out) in result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {(r["district"], r["value_written"]) for r in rows if r["indicator_id"] == BHYT} == \
        {("Bắc Từ Liêm", "91,5"), ("Tây Hồ", "95")}


def test_nothing_found_and_errors(run, tmp_path):
    result = run("xyz qwv")
    assert result.exit_code == 0 and result.output == "No indicator matches 'xyz qwv'.\n"
    result = run("bảo hiểm y tế", "--district", "Cầu Giấy")
    assert result.exit_code == 1 and "Unknown district 'Cầu Giấy'" in result.output
    result = run("***")
    assert result.exit_code == 1 and "no words or numbers" in result.output
    result = run("bảo hiểm y tế", "--json", "--csv")
    assert result.exit_code == 1 and "one of --json and --csv" in result.output
    result = run("bảo hiểm y tế", "--output", str(tmp_path / "missing" / "x.txt"))
    assert result.exit_code == 1 and "Cannot write" in result.output
    result = run("bảo hiểm y tế", "--limit", "0")
    assert result.exit_code == 2


def test_help(run):
    result = CliRunner().invoke(app, ["targets", "--help"], env={"COLUMNS": "200"}, prog_name="qa")
    assert result.exit_code == 0
    assert "Usage: qa targets [OPTIONS] QUERY" in result.output
    for option in ("--district", "--year", "--limit", "--json", "--csv", "--output", "--index"):
        assert option in result.output
    assert "<bool>" not in result.output and "<str>" not in result.output
