"""The library on an accelerator: the same weights, programs and metrics as on the CPU.

Every test here needs a CUDA device and is skipped without one (CI has none); run them where one is:
``python -m pytest tests/test_device.py``. TF32 is off, so the CPU and the GPU compute in fp32 and differ
only by summation order.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch

from metagnn.evaluate import evaluate
from metagnn.models import build_model
from metagnn.optim import PackedAdamW, build_optimizer, update
from metagnn.registry import MODELS, TASKS
from metagnn.tasks import build_task
from metagnn.train import RunConfig, load_run, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _fp32() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def quick(task: str) -> dict:
    return json.loads((resources.files("metagnn") / "configs" / f"{task}-quick.json").read_text())


@pytest.mark.parametrize("model_name", MODELS.names())
@pytest.mark.parametrize("task_name", TASKS.names())
def test_synthesis_and_forward_match_the_cpu(task_name: str, model_name: str) -> None:
    cfg = quick(task_name)
    task = build_task(task_name, cfg.get("task_config", {}))
    torch.manual_seed(0)
    model = build_model(model_name, task.spec, task.intent_dim, cfg.get("models", {}).get(model_name, {}),
                        contract=task.contract).eval()  # fmt: skip
    intents = task.splits["train"][:3] + task.splits["ood"][:2]
    u = task.intent_features(intents)
    x, _ = task.sample(intents, 8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(u, x)
        model.to(CUDA)
        got = model(u.to(CUDA), x.to(CUDA))
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.cpu(), want, rtol=1e-3, atol=1e-3)


def test_packed_adamw_steps_on_the_gpu_as_on_the_cpu() -> None:
    task = build_task("sumfirst", {"target": {"hidden": [16, 16]}})
    torch.manual_seed(0)
    cpu = build_model("metagnn", task.spec, task.intent_dim, {"d_node": 16, "d_edge": 8}, contract=task.contract)
    gpu = build_model("metagnn", task.spec, task.intent_dim, {"d_node": 16, "d_edge": 8}, contract=task.contract)
    gpu.load_state_dict(cpu.state_dict())
    gpu.to(CUDA)
    opts = {m: build_optimizer(m, 1e-3, 0.01, next(m.parameters()).device) for m in (cpu, gpu)}
    assert isinstance(opts[gpu], PackedAdamW)
    gen = torch.Generator().manual_seed(1)
    train_intents = task.splits["train"]
    for _ in range(5):
        intents = [train_intents[i] for i in torch.randperm(len(train_intents), generator=gen)[:4].tolist()]
        x, y = task.sample(intents, 16, gen)
        u = task.intent_features(intents)
        for m, dev in ((cpu, "cpu"), (gpu, CUDA)):
            update(task.loss(m(u.to(dev), x.to(dev)), y.to(dev), intents), opts[m], grad_clip=0.05)
    for (name, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert b.device.type == "cuda", name
        torch.testing.assert_close(b.cpu(), a, rtol=1e-3, atol=1e-4, msg=name)


def test_a_run_trained_on_the_gpu_evaluates_the_same_on_the_cpu(tmp_path: Path) -> None:
    task_cfg = {"vocab": 16, "train": [5, 7, 11], "val": [13], "ood": [3],
                "target": {"d_model": 8, "n_heads": 2, "d_mlp": 16}}  # fmt: skip
    train_cfg = {"steps": 20, "intents_per_step": 2, "examples_per_intent": 16, "eval_every": 10, "warmup": 2}
    model_cfg = {"d_intent": 16, "d_node": 16, "d_edge": 8, "rounds": 1}
    metrics = train(RunConfig("addmod", task_cfg, "metagnn", model_cfg, train_cfg, 0), tmp_path, device="cuda",
                    progress=False)  # fmt: skip
    assert metrics is not None and metrics["provenance"]["device"].startswith("cuda")
    _, task, on_cpu = load_run(tmp_path, device="cpu")
    assert next(on_cpu.parameters()).device.type == "cpu"
    _, _, on_gpu = load_run(tmp_path, device="cuda")
    a, b = evaluate(on_cpu, task, "cpu"), evaluate(on_gpu, task, CUDA)
    for split in ("id_accuracy", "val_accuracy", "ood_accuracy"):
        assert a[split] == pytest.approx(b[split], abs=0.01), split
