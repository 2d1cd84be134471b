"""`aftersail nlu classify` as a filter in its own process, and `aftersail nlu eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from aftersail.assistant.nlu import IntentModel

AFTERSAIL = str(Path(sys.executable).with_name("aftersail"))


def _aftersail(args: list[str], data_dir: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFTERSAIL_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [AFTERSAIL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_classify_answers_each_line_in_order(intent_model: IntentModel, tmp_data_dir: Path) -> None:
    lines = [
        json.dumps({"text": "gdzie jest moja paczka #A10023", "customer": "ignored"}),
        "this is not json",
        json.dumps({"text": "荷物が届いていません。追跡番号を教えてください"}),
        json.dumps({"no_text": 1}),
        json.dumps({"text": "Danke, alles gut!"}),
    ]
    result = _aftersail(["nlu", "classify"], tmp_data_dir, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 5
    assert (out[0]["intent"], out[0]["lang"]) == ("order_status", "pl")
    assert set(out[0]) == {"intent", "lang", "confidence"} and 0 <= out[0]["confidence"] <= 1
    assert "line 2" in out[1]["error"]
    assert out[2]["lang"] == "ja"
    assert "line 4" in out[3]["error"]
    assert (out[4]["intent"], out[4]["lang"]) == ("thanks", "de")


def test_eval_prints_accuracy_per_language_and_confusions(
    intent_model: IntentModel, tmp_data_dir: Path, tmp_path: Path
) -> None:
    sample = tmp_path / "sample.jsonl"
    rows = [
        {"text": "wo ist mein Paket", "intent": "order_status", "lang": "de"},
        {"text": "je veux annuler ma commande", "intent": "cancel_order", "lang": "fr"},
        {"text": "where is my refund??", "intent": "order_status", "lang": "en"},  # labelled wrong on purpose
    ]
    sample.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    result = _aftersail(["nlu", "eval", str(sample), "--json"], tmp_data_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["count"] == 3
    assert report["intent_accuracy"] == round(2 / 3, 4)
    assert set(report["per_language"]) == {"de", "fr", "en"}
    assert report["confusions"] == [{"expected": "order_status", "predicted": "refund_status", "count": 1}]
    table = _aftersail(["nlu", "eval", str(sample)], tmp_data_dir)
    assert "intent accuracy" in table.stdout and "Top confusions" in table.stdout


def test_eval_refuses_a_bad_file(tmp_data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "intent": "nonsense", "lang": "en"}\n', encoding="utf-8")
    result = _aftersail(["nlu", "eval", str(bad)], tmp_data_dir)
    assert result.returncode == 2
    assert "unknown intent" in result.stderr
