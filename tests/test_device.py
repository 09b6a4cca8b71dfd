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
from metagnn.models.base import CudaGraphed
from metagnn.optim import PackedAdamW, build_optimizer, update
from metagnn.registry import MODELS, TASKS
from metagnn.tasks import build_task
from metagnn.train import RunConfig, load_run, train, training_forward

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


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


@pytest.mark.parametrize("model_name", ["metagnn", "gmlp", "flat"])
def test_cuda_graphed_training_steps_match_eager_ones(model_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = quick("addmod")
    task = build_task("addmod", cfg.get("task_config", {}))

    def trained(graphs: bool) -> dict[str, torch.Tensor]:
        monkeypatch.setenv("METAGNN_CUDA_GRAPHS", "1" if graphs else "0")
        torch.manual_seed(0)
        model = build_model(model_name, task.spec, task.intent_dim, cfg.get("models", {}).get(model_name, {}),
                            contract=task.contract).to(CUDA).train()  # fmt: skip
        forward = training_forward(model, CUDA)
        assert isinstance(forward, CudaGraphed) == graphs
        opt = build_optimizer(model, 1e-3, 0.01, CUDA)
        gen = torch.Generator().manual_seed(1)
        for k in (4, 4, 4, 3):  # the last batch has another shape: a second capture
            intents = task.splits["train"][:k]
            x, y = task.sample(intents, 16, gen)
            u = task.intent_features(intents).to(CUDA)
            update(task.loss(forward(u, x.to(CUDA)), y.to(CUDA), intents), opt, grad_clip=0.05)
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    eager, graphed = trained(False), trained(True)
    for name, value in eager.items():
        torch.testing.assert_close(graphed[name], value, rtol=1e-4, atol=1e-5, msg=name)
    torch.manual_seed(0)
    untrained = build_model(model_name, task.spec, task.intent_dim, cfg.get("models", {}).get(model_name, {}),
                            contract=task.contract).state_dict()  # fmt: skip
    assert any(not torch.allclose(graphed[n], v) for n, v in untrained.items())  # the steps moved the weights


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
