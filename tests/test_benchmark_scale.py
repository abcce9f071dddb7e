"""The scale benchmark runs end to end at tiny sizes and reports every figure, verified.

This checks that `python -m benchmarks.scale` works and that its JSON carries every figure it
promises, not how fast anything is: performance claims come from running the command itself
(docs/performance.md), which compares methods within one run.
"""

import json

from benchmarks.scale import cli, report

TINY = [
    "--repeat",
    "1",
    "--purge-rows-per-day",
    "4000",
    "--purge-days",
    "2",
    "--agents",
    "20",
    # Often enough that even a purge of a few milliseconds has inserts in flight during it.
    "--ingest-rate",
    "500",
    "--night-rows-per-day",
    "500",
    "--stale-sizes",
    "100",
    "1000",
    "--outage-agents",
    "300",
    "--big-outage-agents",
    "500",
    "--stale-batch",
    "200",
    "--ingest-agents",
    "50",
    "--ingest-clients",
    "2",
    "--ingest-seconds",
    "1",
    "--ingest-rounds",
    "1",
]


def test_the_scale_benchmark_reports_every_figure_with_its_target(tmp_path, capsys):
    results, markdown = tmp_path / "scale.json", tmp_path / "scale.md"

    exit_code = cli.main([*TINY, "--json", str(results), "--markdown", str(markdown)])

    data = json.loads(results.read_text())
    printed = capsys.readouterr().out
    figures = {figure["key"]: figure for figure in data["figures"]}
    assert exit_code == 0
    assert data["verified"] is True
    assert list(figures) == report.figure_keys(cli.parse_args(TINY))
    assert all(isinstance(figure["value"], int | float) for figure in figures.values())
    # Every target of the issue is printed next to its figure, met or not.
    targeted = {key for key, figure in figures.items() if figure["target"]}
    assert {
        "purge.partitioned.speed_vs_plain_delete",
        "purge.partitioned.wal_vs_plain_delete",
        "purge.unpartitioned.speed_vs_plain_delete",
        "purge.unpartitioned.longest_transaction_s",
        "night.partitioned.rows_one_by_one",
        "stale.agents_1000.ms",
        "stale.outage_300.ms",
        "stale.big_outage.runs",
        "stale.big_outage.left_online",
        "ingest.record_heartbeat.vs_bare",
        "ingest.insert.vs_bare",
        "ingest.record_heartbeat.hot_share",
        "ingest.insert.hot_share",
    } <= targeted
    # A mass outage bigger than one run's batch ends with every quiet agent offline.
    assert figures["stale.big_outage.left_online"]["value"] == 0
    assert figures["stale.big_outage.left_online"]["met"] is True
    assert "## Figures and targets" in printed
    assert markdown.read_text() in printed
