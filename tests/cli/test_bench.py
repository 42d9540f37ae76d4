"""`flowvox bench`: a report with both tables; bad input is one line and exit 2."""

from flowvox.cli.main import main


def test_bench_writes_report(tmp_path, capsys):
    out = tmp_path / "bench.md"
    raw = tmp_path / "bench.json"
    code = main(
        ["bench", "--preset", "infill:tiny", "--vocoder", "griffin-lim", "--nfe", "1", "2",
         "--lines", "2", "--rounds", "1",
         "--precision", "bf16", "--train-shape", "1x32", "--train-steps", "1",
         "--threads", "1", "--out", str(out), "--json", str(raw)]
    )  # fmt: skip
    assert code == 0
    text = out.read_text()
    assert "## Synthesis" in text and "## Training step" in text
    assert "| 1 | 2 | 2 |" in text and "| 2 | 2 | 2 |" in text  # NFE, CFG, lines
    assert "1 × 32" in text and "GFLOP/s" in text
    assert "Precision: bf16" in text and "bfloat16" in text  # MFU against the bf16 peak
    assert '"synthesis"' in raw.read_text()


def test_bench_skip_training(tmp_path):
    out = tmp_path / "b.md"
    args = ["bench", "--vocoder", "griffin-lim", "--nfe", "1", "--lines", "1", "--rounds", "1"]
    assert main([*args, "--skip", "training", "--no-mfu", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Training step" not in text and "nan" not in text and "| – | – |" in text


def test_bench_bad_input(tmp_path, capsys):
    assert main(["bench", "--train-shape", "4by400"]) == 2
    assert "--train-shape" in capsys.readouterr().err
    out = tmp_path / "missing" / "b.md"
    assert main(["bench", "--out", str(out)]) == 2
    assert not out.exists()
    assert main(["bench", "--nfe", "0"]) == 2
    assert main(["bench", "--preset", "aligned:tiny", "--skip", "training"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "aligned" in err
