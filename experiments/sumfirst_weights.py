"""What a SumFirst-n run synthesized: per intent, the accuracy and the weight each input digit gets.

    python experiments/sumfirst_weights.py runs/reproduce-full/sumfirst/metagnn/seed0

The weight of digit ``i`` is the mean gradient of the network's output with respect to input ``i``
over 512 random digit rows (for an exact program: 1 for ``i <= n``, 0 after). Prints a table.
"""

from __future__ import annotations

import argparse

import torch

from metagnn.targets import run as run_target
from metagnn.train import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args()
    cfg, task, model = load_run(args.run_dir)
    if cfg.task != "sumfirst":
        parser.error(f"{args.run_dir} is a {cfg.task} run, not sumfirst")
    model.eval()
    x = torch.randint(10, (1, 512, 16), generator=torch.Generator().manual_seed(0)).float().requires_grad_(True)
    print("| n | split | accuracy | " + " | ".join(f"w{i}" for i in range(1, 17)) + " |")
    print("|---" * 19 + "|")
    for n in range(1, 17):
        with torch.no_grad():
            theta = model.synthesize(task.intent_features([n]))
        (grad,) = torch.autograd.grad(run_target(task.spec, theta, x).sum(), x)
        xt, yt = task.test_set(n)
        with torch.no_grad():
            acc = task.correct(run_target(task.spec, theta, xt[None])[0], yt, [n]).float().mean().item()
        weights = " | ".join(f"{w:.2f}" for w in grad[0].mean(0).tolist())
        print(f"| {n} | {task.split_of(n) or 'unseen'} | {acc:.3f} | {weights} |")


if __name__ == "__main__":
    main()
