"""End to end with the user's own model and traces: a Hugging Face config.json through `run`, trace CSVs in
both schemas through `run` and `simulate`, the profile through `show` and an executed run; malformed ones
exit 2 with one line."""

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phasecal.cli import app

MINI = {"model_type": "llama", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 384, "vocab_size": 2048, "tie_word_embeddings": True}


def _traces(folder: Path) -> tuple[Path, Path]:
    rng = random.Random(1)
    rows = [(0.5 * i + rng.random() * 0.4, rng.randint(20, 400), rng.randint(5, 100)) for i in range(80)]
    plain, azure = folder / "plain.csv", folder / "azure.csv"
    plain.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{t:.4f},{p},{o}\n" for t, p, o in rows))
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
        f"2024-05-01 12:{int(t) // 60:02d}:{t % 60:09.6f},{p},{o}\n" for t, p, o in rows))
    return plain, azure


@pytest.mark.slow
def test_own_model_and_traces_through_run_simulate_show(tmp_path):
    cfg = tmp_path / "mini" / "config.json"
    cfg.parent.mkdir()
    cfg.write_text(json.dumps(MINI))
    plain, azure = _traces(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["run", "--quick", "--device", "cpu", "--model", str(cfg), "-w", str(plain),
                              "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    profile = next((tmp_path / "out").rglob("profile.json"))
    schedule = json.loads((profile.parent / "schedule_plain.json").read_text())
    assert profile.parent.name == "mini" and schedule["workload"]["spec"] == str(plain)
    assert schedule["offered_load"] > 0 and schedule["capacity"]["tokens_per_s"] > 0
    recorded = json.loads(profile.read_text())["model"]
    assert (recorded["hidden_size"], recorded["num_layers"], recorded["head_dim"]) == (128, 2, 32)
    res = runner.invoke(app, ["simulate", "-p", str(profile), "-w", f"{azure}:load=0.7", "--policy", "mb,eb"])
    assert res.exit_code == 0 and "ρ 0.70 of MB capacity" in " ".join(res.output.split()), res.output
    assert runner.invoke(app, ["show", str(profile)]).exit_code == 0
    res = runner.invoke(app, ["simulate", "-p", str(profile), "-w", f"{plain}:n=6", "--policy", "mb", "--execute"])
    assert res.exit_code == 0 and "executed" in res.output, res.output


def test_malformed_trace_and_config_exit_2_with_one_line(tmp_path):
    bad_trace = tmp_path / "bad.csv"
    bad_trace.write_text("arrival_s,prompt_tokens,output_tokens\n1,2,3\n2,x,3\n")
    bad_cfg = tmp_path / "config.json"
    bad_cfg.write_text(json.dumps({k: v for k, v in MINI.items() if k != "vocab_size"}))
    runner = CliRunner()
    for args, msg in ((["run", "--quick", "-w", str(bad_trace), "--out", str(tmp_path / "o")],
                       "bad.csv:3: column prompt_tokens"),
                      (["run", "--quick", "--model", str(bad_cfg), "--out", str(tmp_path / "o")],
                       "field 'vocab_size' is missing")):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and msg in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("raw.jsonl"))  # failed before probing
