"""The purge benchmark runs end to end at a tiny size: same rows deleted by every method, verified.

This checks that the benchmark works, not how fast anything is (performance claims come from
running ``python -m benchmarks.purge`` itself, which compares methods within one run).
"""

import json

from benchmarks import purge

ROWS = 3000
EXPIRED = ROWS // 2


def test_the_purge_benchmark_runs_every_method_and_verifies_them(tmp_path, capsys):
    results = tmp_path / "purge.json"

    exit_code = purge.main(
        [
            "--rows",
            str(ROWS),
            "--batch",
            "500",
            "--repeat",
            "1",
            "--agents",
            "20",
            "--json",
            str(results),
        ]
    )

    report = json.loads(results.read_text())
    printed = capsys.readouterr().out
    assert exit_code == 0
    assert report["verified"] is True
    assert {run["method"] for run in report["runs"]} == set(purge.METHODS)
    assert {run["deleted"] for run in report["runs"]} == {EXPIRED}
    assert all(run["verified"] for run in report["runs"])
    assert f"time vs {purge.BASELINE}" in printed
    assert f"time vs {purge.FLOOR}" in printed
    baseline_row = next(line for line in printed.splitlines() if line.startswith(purge.BASELINE))
    assert "1.00x" in baseline_row
    assert "verification: passed" in printed
