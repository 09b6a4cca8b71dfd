"""The library in ten lines: spec -> graph -> model -> weights for three intents -> run -> instantiate -> save.

Run: python examples/library_tour.py   (untrained model: shows the plumbing, not accuracy)
"""

import torch

from metagnn import NeuralGraph, build_model, build_target, build_task, instantiate, load_program, run, save_program

spec = build_target("transformer", vocab=65, n_ctx=3, n_classes=64, d_model=32, n_heads=4, d_mlp=128)
graph = NeuralGraph(spec)  # one node per neuron, one edge per weight, group ids, positional encodings
task = build_task("addmod")  # intent features, data, metric (its target is this same spec)
model = build_model("metagnn", spec, task.intent_dim, contract=task.contract)
theta = model.synthesize(task.intent_features([13, 29, 43]))  # {name: (3, *shape)}: three complete weight sets
x = torch.tensor([[[3, 9, 64]]] * 3)  # "3 9 =" for each program
logits = run(spec, theta, x)  # all three programs in one call: (3, 1, 64)
net = instantiate(spec, {k: v[0] for k, v in theta.items()})  # a plain nn.Module for p = 13
save_program("add13.safetensors", spec, {k: v[0] for k, v in theta.items()}, task="addmod", intent="13")

print(f"graph: {graph.num_nodes} nodes, {graph.num_edges} edges, {graph.num_groups} groups")
print(f"generated {sum(v[0].numel() for v in theta.values())} weights per intent = spec's {spec.num_parameters}")
print("batched run == nn.Module:", torch.allclose(logits[0], net(x[0]), atol=1e-5))
print("reloaded program == nn.Module:", torch.allclose(load_program("add13.safetensors")(x[0]), net(x[0]), atol=1e-6))
