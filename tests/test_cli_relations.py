"""`qa relations ID`: a document's number, status with evidence and relations both ways."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qa.cli import app

NQ21 = "bac-tu-liem-nq-21-2020-ke-hoach-nam-2021"
CIRCULAR_2023 = "congbao:thong-tu-so-20-2023-tt-bldtbxh-41198"


@pytest.fixture
def run(settings):
    runner = CliRunner()
    env = {"QA_MODEL_CACHE": str(settings.model_cache), "COLUMNS": "200", "NO_COLOR": "1"}
    return lambda *args: runner.invoke(app, list(args), env=env, prog_name="qa")


def test_help(run):
    result = run("relations", "--help")
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "Usage: qa relations [OPTIONS] DOC_ID" in text and "--json" in text


@pytest.mark.parametrize("given", [NQ21, f"{NQ21}.txt", f"corpus/{NQ21}.txt"])
def test_relations_of_a_resolution_by_id_or_file_name(run, built_index, given):
    result = run("relations", given, "--index", str(built_index.settings.index))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{NQ21}: Nghị quyết về kế hoạch phát triển")
    assert "Number: 21/NQ-HĐND (21/NQ-HDND)" in lines and "Status: Chưa rõ (unknown)" in lines
    assert "  based on: Luật Tổ chức chính quyền địa phương ngày 19/6/2015 (not indexed)" in lines
    assert any(line.startswith("  based on: Luật số 47/2019/QH14") for line in lines)
    assert "Other indexed documents (incoming): 0" in lines


def test_json_is_what_the_api_gives(run, built_index):
    result = run("relations", NQ21, "--json", "--index", str(built_index.settings.index))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["id"] == NQ21 and body["number_key"] == "21/NQ-HDND" and body["status"]["status"] == "unknown"
    assert {r["cited_number"] for r in body["relations"]["outgoing"]} == {"", "47/2019/QH14"}


def test_both_ways_and_the_evidence_of_a_replaced_circular(run, related_index):
    result = run("relations", CIRCULAR_2023, "--index", str(related_index.settings.index))
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Status: Hết hiệu lực (bị thay thế) (replaced), in force from 2024-02-15, until 2025-01-10" in text
    assert "evidence (replaces, congbao:thong-tu-so-01-2025-tt-bldtbxh-43956)" in text
    assert "  replaces: Thông tư số 01/2023/TT-BLĐTBXH ngày 03 tháng 01 năm 2023 → congbao:thong-tu-so-01-2023" in text
    assert "  replaced by: 01/2025/TT-BLĐTBXH → congbao:thong-tu-so-01-2025-tt-bldtbxh-43956" in text


def test_an_unknown_document_fails_with_suggestions(run, built_index):
    result = run("relations", NQ21[:-1], "--index", str(built_index.settings.index))
    assert result.exit_code == 1
    assert "No document with the id" in result.output and f"Did you mean: {NQ21}" in result.output
