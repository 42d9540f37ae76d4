"""`flowvox score` and `flowvox reflow pairs`: help, a run each, one-line errors."""

from __future__ import annotations

import json

import pytest

from flowvox.cli.main import build_parser, main
from tests.models.aligned_helpers import (
    TRAIN_TEXTS,
    export_model,
    make_prepared,
    one_thread,  # noqa: F401  (a module fixture)
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("verb", [["score"], ["reflow"], ["reflow", "pairs"]], ids=" ".join)
def test_help_with_examples(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*verb, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "usage: flowvox " + " ".join(verb) in out
    assert f"flowvox {verb[0]} " in out.split("examples:")[1]


@pytest.mark.parametrize(
    ("verb", "nfe", "solver"),
    [
        (["score", "M", "D", "O.jsonl"], 16, "midpoint"),
        (["reflow", "pairs", "M", "P", "O"], 10, "euler"),
    ],
    ids=["score", "reflow pairs"],
)
def test_solver_options_have_each_verbs_defaults(verb, nfe, solver):
    parser = build_parser()
    args = parser.parse_args(verb)
    assert (args.nfe, args.solver, args.device, args.no_progress) == (nfe, solver, "cpu", False)
    changed = ["--nfe", "3", "--solver", "rk4", "--device", "cuda:1", "--no-progress"]
    args = parser.parse_args([*verb, *changed])
    assert (args.nfe, args.solver, args.device, args.no_progress) == (3, "rk4", "cuda:1", True)
    with pytest.raises(SystemExit):
        parser.parse_args([*verb, "--solver", "heun"])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_flow")
    prepared = make_prepared(root)
    return prepared, export_model(root / "model", prepared)


def test_score_writes_one_line_per_utterance(tmp_path, files, capsys):
    prepared, model = files
    out = tmp_path / "scores.jsonl"
    args = ["score", str(model), str(prepared), str(out), "--split", "train", "--probes", "1"]
    assert main([*args, "--nfe", "2", "--solver", "euler", "--no-progress"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len(TRAIN_TEXTS)
    assert set(lines[0]) == {"id", "nats_per_frame", "nats_per_element", "frames"}
    assert f"scored {len(TRAIN_TEXTS)} utterances" in capsys.readouterr().out


def test_reflow_pairs_then_a_rerun_skips_them(tmp_path, files, capsys):
    prepared, model = files
    args = ["reflow", "pairs", str(model), str(prepared), str(tmp_path / "pairs"), "--nfe", "2"]
    assert main([*args, "--no-progress"]) == 0
    assert f"made {len(TRAIN_TEXTS)} reflow pairs (0 already there)" in capsys.readouterr().out
    assert main([*args, "--no-progress"]) == 0
    assert f"made 0 reflow pairs ({len(TRAIN_TEXTS)} already there)" in capsys.readouterr().out
    assert main([*args, "--seed", "1", "--no-progress"]) == 2
    assert "other settings (seed" in capsys.readouterr().err


def test_mistakes_are_one_line_and_leave_no_output(tmp_path, files, capsys):
    prepared, _ = files
    out = tmp_path / "scores.jsonl"
    assert main(["score", str(tmp_path / "nowhere"), str(prepared), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1 and not out.exists()
