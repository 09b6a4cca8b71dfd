"""How many demonstrations pin the intent down: the share of draws that only the true intent explains.

The reference for ``metagnn examples``: the same fixed draws of demonstrations
(:func:`metagnn.examples.demonstration_generator`), checked against every intent of the task's domain
(SumFirst-n: n in 1..16; AddMod-p: the primes of the vocabulary) by an exact enumerator that knows the
family's formula: what the pairs alone determine (where several intents fit, a learned encoder may still
guess right by preferring the train intents).

    python experiments/examples_identifiable.py addmod --config full
    python experiments/examples_identifiable.py sumfirst --config full
"""

from __future__ import annotations

import argparse
from statistics import mean

import torch

from metagnn.config import load_config
from metagnn.examples import demonstration_generator
from metagnn.tasks import build_task
from metagnn.tasks.addmod import is_prime
from metagnn.tasks.sumfirst import N_DIGITS


def explains(task_name: str, candidate: int, x: torch.Tensor, y: torch.Tensor) -> bool:
    if task_name == "sumfirst":
        return bool((x[:, :candidate].sum(-1) == y[:, 0]).all())
    return bool(((x[:, 0] + x[:, 1]) % candidate == y).all())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("addmod", "sumfirst"))
    parser.add_argument("--config", default="full")
    parser.add_argument("--pairs", default="1,2,4,8,16,32")
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    task = build_task(args.task, load_config(args.config, args.task)["task_config"])
    domain = list(range(1, N_DIGITS + 1)) if args.task == "sumfirst" else [
        p for p in range(2, task.cfg.vocab + 1) if is_prime(p)]  # fmt: skip
    splits = [s for s in ("train", "val", "ood", "extrapolation") if task.splits[s]]
    print(f"{args.task} ({args.config}): share of draws only the true intent explains, {len(domain)} candidates")
    print("| split | " + " | ".join(f"{k} pairs" for k in args.pairs.split(",")) + " |")
    print("|---|" + "---|" * len(args.pairs.split(",")))
    for split in splits:
        cells = []
        for k in (int(k) for k in args.pairs.split(",")):
            unique = []
            for intent in task.splits[split]:
                for draw in range(args.draws):
                    x, y = task.sample([intent], k, demonstration_generator(task, intent, draw))
                    unique.append([q for q in domain if explains(args.task, q, x[0], y[0])] == [intent])
            cells.append(f"{mean(unique):.3f}")
        print(f"| {split} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
