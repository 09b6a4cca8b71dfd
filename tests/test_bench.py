"""The benchmark runner's smallest pieces, in-process: structure and sanity of results (never timings)."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # development tooling, not the package
import bench  # noqa: E402
import performance_doc as doc  # noqa: E402
import suite  # noqa: E402


def tiny(cfg: dict) -> dict:
    """A config with a tiny batch, so that a step takes milliseconds."""
    cfg = copy.deepcopy(cfg)
    cfg["train"] = {**cfg.get("train", {}), "intents_per_step": 2, "examples_per_intent": 4}
    return cfg


@pytest.fixture(scope="module")
def configs() -> dict[str, dict]:
    return {c["name"]: c for c in suite.task_configs(quick=True)}


def test_configs_cover_every_task_with_a_quick_config(configs):
    assert {"addmod-quick", "sumfirst-quick"} <= set(configs)
    assert all(c["name"].endswith("-quick") for c in configs.values())
    full = {c["name"] for c in suite.task_configs(quick=False)}
    assert {"addmod-full", "sumfirst-full"} <= full and set(configs) <= full


def test_machine_names_cpu_cores_torch_threads():
    m = suite.machine()
    assert m["cpu"] and m["logical_cores"] >= 1 and m["threads"] >= 1 and m["torch"]


def test_training_rows(configs):
    rows = suite.training([tiny(configs["sumfirst-quick"])], rounds=1, per_round=1, models=("metagnn", "flat"))
    assert [r["model"] for r in rows] == ["metagnn", "flat"]
    for r in rows:
        assert r["step_s"] > 0 and r["steps_timed"] == 1 and r["examples_per_step"] == 8
        assert math.isclose(r["examples_per_s"], r["examples_per_step"] / r["step_s"])
        assert r["parameters"] > 0 and r["target_parameters"] == 16 * 64 + 64 + 64 * 64 + 64 + 64 + 1
    assert rows[0]["time_vs_metagnn"] == 1.0


def test_graph_construction(configs):
    (row,) = suite.graph_construction([configs["sumfirst-quick"]])
    assert row["nodes"] == 16 + 64 + 64 + 1 and row["edges"] == 16 * 64 + 64 * 64 + 64 and row["graph_s"] > 0


def test_synthesis_distinct_intents_and_counts(configs):
    rows = suite.synthesis(
        configs["sumfirst-quick"], singles=2, total=6, batch=4, repeats=1, models=("metagnn", "flat")
    )
    for r in rows:
        assert r["one_intent_calls"] == 2 and r["many_intents"] == 6 and r["many_repeats"] == 1
        assert 0 < r["one_intent_s_min"] <= r["one_intent_s"] <= r["one_intent_s_max"]
        assert r["many_s"] > 0 and r["distinct_intents"] == 16


def test_efficiency_counts_flops_and_shares(configs):
    e = suite.efficiency(tiny(configs["sumfirst-quick"]), rounds=1, per_round=1)
    assert e["flops_per_step"] > 0 and e["matmul_peak_gflops"] > 0 and e["bandwidth_gbs"] > 0
    assert math.isclose(e["fraction_of_peak"], e["achieved_gflops"] / e["matmul_peak_gflops"])
    assert math.isclose(sum(e["time_share"].values()), 1.0) and "matmul" in e["time_share"]


def test_run_s_vmap_and_loop_agree(configs):
    (row,) = suite.run_s(tiny(configs["addmod-quick"]), (3,), rounds=1, per_round=1)
    assert row["same_outputs"] and row["weight_sets"] == 3
    assert row["loop_over_vmap"] > 0 and row["loop_over_vmap_bwd"] > 0


def test_scaling_point_in_a_subprocess():
    point = {"family": "mlp", "size": 8, "model": "metagnn", "threads": 1, "warmup": 1, "steps": 1}
    row = suite._run_child({**point, "intents": 1, "examples": 4})
    assert "error" not in row, row.get("error")
    assert row["target_parameters"] == 16 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    assert row["step_s"] > 0 and len(row["step_times"]) == 1
    assert row["peak_process_mib"] >= row["rss_start_mib"] > 0


def test_render_writes_page_and_plots(tmp_path, configs):
    cfg = tiny(configs["sumfirst-quick"])
    scaling = [
        {"family": "mlp", "size": s, "model": m, "target_parameters": p, "parameters": 10, "step_s": t,
         "build_s": 0.1, "peak_process_mib": mem, "rss_start_mib": 100.0, "peak_steps_mib": mem}
        for s, p, t, mem, m in [(1, 10_000, 0.1, 200.0, "metagnn"), (2, 100_000, 0.5, 400.0, "metagnn"),
                                (1, 10_000, 0.1, 200.0, "flat"), (2, 100_000, 0.9, 900.0, "flat")]
    ]  # fmt: skip
    res = {
        "quick": True,
        "machine": suite.machine(),
        "started": "now",
        "wall_s": 1.0,
        "graph": suite.graph_construction([cfg]),
        "training": suite.training([cfg], rounds=1, per_round=1, models=("metagnn", "flat")),
        "synthesis": suite.synthesis(cfg, singles=1, total=2, batch=2, repeats=1, models=("metagnn",)),
        "efficiency": suite.efficiency(cfg, rounds=1, per_round=1),
        "run_s": suite.run_s(cfg, (2,), rounds=1, per_round=1),
        "scaling": scaling,
        "scaling_batch": suite.SCALING_BATCH,
        "compile": {
            "config": "sumfirst-quick",
            "model": "metagnn",
            "first_call_s": 30.0,
            "eager_s": 0.010,
            "compiled_s": 0.012,
            "max_abs_diff": 2e-7,
        },  # fmt: skip
    }
    page = doc.render(res, tmp_path / "performance.md", "python benchmarks/bench.py --quick", tmp_path / "r.json")
    for heading in ("## Targets", "## Training step throughput", "## Synthesis latency", "## `torch.compile`",
                    "## Scaling with the target", "## Efficiency", "## Running S"):  # fmt: skip
        assert heading in page
    assert (tmp_path / "img" / "performance" / "scaling.png").stat().st_size > 0
    assert (tmp_path / "img" / "performance" / "training-throughput.png").stat().st_size > 0
    saved = tmp_path / "bench.json"
    saved.write_text(json.dumps(res))
    assert bench.main(["--from-json", str(saved), "--out", str(tmp_path / "again" / "performance.md")]) == 0
    assert "## Targets" in (tmp_path / "again" / "performance.md").read_text()
    assert "compiled 12.0 ms (ratio 1.20)" in page and "compilation does not pay" in page
    res["optimizers"] = suite.optimizers([cfg], rounds=1, per_round=1, models=("metagnn",))
    page = doc.render(res, tmp_path / "performance.md", "python benchmarks/bench.py", tmp_path / "r.json")
    assert "## Optimizer" in page
    packed = next(r for r in res["optimizers"] if r["optimizer"] == "packed")
    fused = next(r for r in res["optimizers"] if r["optimizer"] == "fused")
    assert packed["stepped_tensors"] < packed["tensors"] // 10 and fused["stepped_tensors"] >= packed["tensors"]
    assert f"| sumfirst-quick | Meta-GNN | {packed['tensors']} | {packed['stepped_tensors']} |" in page
    verdicts = {t: v for t, _, v in doc.targets(res)}
    assert verdicts["Meta-GNN's memory grows at most linearly with the target's size (mlp sweep)"] == "met"  # 0.5
    per_step = "8 intents x 64 examples per step"
    assert verdicts[f"at 100,000 target parameters (mlp), {per_step}: Meta-GNN's peak memory below Meta-MLP's"] == "met"
    assert "Meta-GNN's training step <= 2x Meta-MLP's (sumfirst-quick)" in verdicts  # measured: either verdict
    assert "one AddMod program synthesized in <= 5 ms (median, `CompiledSynthesis`)" not in verdicts


def test_compiled_synthesis_rows_render_beside_the_eager_ones(tmp_path, configs, monkeypatch):
    """A compiled row (``synthesis(compiled=...)``; here torch.compile is left out, to keep the test fast) gets its
    own targets and its first calls, not timed in the table; a failed compile says so."""
    monkeypatch.setattr(torch, "compile", lambda fn: fn)
    cfg = tiny(configs["sumfirst-quick"])
    eager, fast = suite.synthesis(cfg, singles=1, total=2, batch=2, repeats=1, models=("metagnn",),
                                  compiled=("metagnn",))  # fmt: skip
    assert eager["compiled"] is False and "first_call_s" not in eager
    assert fast["compiled"] is True and set(fast["first_call_s"]) == {"1", "2"} and fast["compile_failure"] is None
    fast = {**fast, "one_intent_s": 0.004, "first_call_s": {"1": 31.0, "2": 40.0}}
    training = suite.training([cfg], rounds=1, per_round=1, models=("metagnn", "flat"))
    res = {"quick": True, "machine": suite.machine(), "started": "now", "wall_s": 1.0, "training": training,
           "graph": suite.graph_construction([cfg]), "run_s": [], "synthesis": [eager, fast]}  # fmt: skip
    page = doc.render(res, tmp_path / "performance.md", "python benchmarks/bench.py --quick", tmp_path / "r.json")
    verdicts = {t: v for t, _, v in doc.targets(res)}
    assert verdicts["one AddMod program synthesized in <= 5 ms (median, `CompiledSynthesis`)"] == "met"
    assert "one AddMod program synthesized in <= 5 ms (median)" in verdicts
    assert "| Meta-GNN, compiled | 4.0 ms |" in page and "31.00 s at batch 1, 40.00 s at batch 2" in page
    failed = {**fast, "compile_failure": "InvalidCxxCompiler: no compiler"}
    page = doc.render({**res, "synthesis": [eager, failed]}, tmp_path / "p.md", "bench", tmp_path / "r.json")
    assert "`torch.compile` failed here (InvalidCxxCompiler: no compiler)" in page
    assert "CompiledSynthesis" not in " ".join(t for t, _, _ in doc.targets({**res, "synthesis": [eager, failed]}))


def test_a_gpu_run_renders_as_its_own_section_beside_the_cpu_run(tmp_path, configs):
    cfg = tiny(configs["sumfirst-quick"])
    training = suite.training([cfg], rounds=1, per_round=1, models=("metagnn", "flat"))
    cpu = {"quick": True, "machine": suite.machine(), "started": "now", "wall_s": 1.0, "training": training,
           "synthesis": [], "run_s": [], "graph": suite.graph_construction([cfg])}  # fmt: skip
    scaling = [
        {"family": "mlp", "size": s, "model": m, "target_parameters": p, "parameters": 10, "step_s": 0.01,
         "gpu_start_mib": 10.0, "gpu_peak_mib": mem + 10.0, "synthesize_one_s": 0.004}
        for s, p, mem, m in [(1, 10_000, 50.0, "metagnn"), (2, 100_000, 90.0, "metagnn"),
                             (1, 10_000, 80.0, "flat"), (2, 100_000, 700.0, "flat")]
    ]  # fmt: skip
    gpu = {**cpu, "machine": {**suite.machine(), "device": "cuda", "gpu": "a test GPU", "cuda": "13.0",
                              "cuda_graphs": True},
           "scaling": scaling, "scaling_batch": suite.SCALING_BATCH, "command": "bench.py --device cuda",
           "cuda_graph": {"config": "addmod-quick", "model": "metagnn", "how": "cuda graph", "first_call_s": 2.0,
                          "eager_s": 0.030, "compiled_s": 0.006, "max_abs_diff": 1e-6}}  # fmt: skip
    page_path = tmp_path / "performance.md"
    saved = tmp_path / "results" / "performance"
    saved.mkdir(parents=True)
    (saved / "bench-quick.json").write_text(json.dumps(cpu))
    (saved / bench.results_name(True, torch.device("cuda"))).write_text(json.dumps(gpu))
    assert bench.main(["--from-json", str(saved / "bench-quick.json"), "--out", str(page_path)]) == 0
    page = page_path.read_text()
    gpu_part = page[page.index("## On a GPU") :]
    assert "`bench.py --device cuda` on a test GPU" in gpu_part
    assert "| mlp | 2 | Meta-GNN | 100,000 | 10.0 ms | 90 MiB | 4.0 ms |" in gpu_part
    assert "Meta-GNN 90 MiB, Meta-MLP 700 MiB (ratio 0.13) | met" in gpu_part
    assert "### CUDA graphs" in gpu_part and "graphed 6.0 ms (ratio 0.20); the first capture took 2.00 s" in gpu_part
    ratio = training[0]["step_s"] / training[1]["step_s"]
    row = next(line for line in gpu_part.splitlines() if line.startswith("| sumfirst-quick | Meta-GNN |"))
    assert row.startswith(f"| sumfirst-quick | Meta-GNN | {training[0]['parameters']:,} |")
    assert row.endswith(f"| {ratio:.2f} |")
    assert bench.main(["--from-json", str(saved / "bench-cuda-quick.json"), "--out", str(page_path)]) == 2


def test_loglog_slope():
    assert math.isclose(doc.loglog_slope([1, 10, 100], [2, 20, 200]), 1.0)
    assert math.isclose(doc.loglog_slope([1, 10, 100], [3, 3, 3]), 0.0, abs_tol=1e-12)


def test_the_runner_documents_its_flags(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    assert "--quick" in capsys.readouterr().out


def test_from_json_rejects_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert bench.main(["--from-json", str(bad), "--out", str(tmp_path / "p.md")]) == 2
    assert "not a readable results JSON" in capsys.readouterr().err


def test_accuracy_section_compares_the_summaries_per_task_and_model(tmp_path):
    def summary(name: str, oods: list[float]) -> Path:
        rows = [{"task": "addmod", "model": "metagnn", "id_accuracy": 1.0, "val_accuracy": None, "ood_accuracy": o}
                for o in oods]  # fmt: skip
        path = tmp_path / name
        path.write_text(json.dumps({"rows": rows}))
        return path

    pair = {"before": summary("b.json", [0.9, 1.0]), "after": summary("a.json", [0.8, 0.9, 1.0])}
    manifest = {"change": "A change.", "before_commit": "a", "after_commit": "b", "commands": ["x"], "pairs": [pair]}
    lines = doc._accuracy_section(manifest)
    row = "| addmod | Meta-GNN | 2 / 3 | 1.000 ± 0.000 | 1.000 ± 0.000 | — | — | 0.950 ± 0.071 | 0.900 ± 0.100 |"
    assert row in lines
