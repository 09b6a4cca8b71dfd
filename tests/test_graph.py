"""Neural graph: exact theta <-> features round trip, group ids derived from the spec, positional encodings."""

from __future__ import annotations

import pytest
import torch

from metagnn.errors import SpecError
from metagnn.graph import NeuralGraph
from metagnn.targets import TargetSpec, build_target


def node_slice(g: NeuralGraph, name: str) -> slice:
    lo = g.node_offset[name]
    return slice(lo, lo + g.spec.node_set(name).size)


def test_round_trip_is_exact(spec: TargetSpec, gen: torch.Generator) -> None:
    """theta -> (node values, edge values) -> theta returns bit-identical tensors."""
    g = NeuralGraph(spec)
    theta = spec.init_theta(gen)
    node_values, node_mask, edge_values = g.to_features(theta)
    back = g.from_features(node_values, edge_values)
    assert list(back) == [p.name for p in spec.params]
    for name, value in theta.items():
        assert torch.equal(back[name], value), name
    # Every stored value is a real parameter: masked node slots + edges = all parameters.
    assert int(node_mask.sum()) + edge_values.numel() == spec.num_parameters
    assert torch.all(node_values[~node_mask] == 0)


def test_counts_match_the_spec(spec: TargetSpec) -> None:
    """One node per neuron and one edge per weight entry (biases live on nodes)."""
    g = NeuralGraph(spec)
    weights = [p for p in spec.params if p.is_edge]
    assert g.num_nodes == sum(s.size for s in spec.node_sets)
    assert g.num_edges == sum(torch.Size(spec.shape(p)).numel() for p in weights)
    assert g.edge_index().shape == (2, g.num_edges)
    assert g.edge_group_id().shape == (g.num_edges,)
    assert g.node_group_id().shape == (g.num_nodes,)


def test_node_group_ids_one_per_node_set(spec: TargetSpec) -> None:
    """All nodes of a node set share one group id, and different node sets have different ids."""
    g = NeuralGraph(spec)
    ids = g.node_group_id()
    per_set = {}
    for s in spec.node_sets:
        members = ids[node_slice(g, s.name)]
        assert torch.all(members == members[0]), s.name
        per_set[s.name] = int(members[0])
    assert len(set(per_set.values())) == len(spec.node_sets)


def test_query_and_key_nodes_are_different_groups(transformer_spec: TargetSpec) -> None:
    """Q and K dimensions share a permutation but are not the same kind of neuron."""
    g = NeuralGraph(transformer_spec)
    ids = g.node_group_id()
    for i in range(2):
        q, k, v = (ids[node_slice(g, f"blocks.{i}.{n}")][0] for n in "qkv")
        assert len({int(q), int(k), int(v)}) == 3


def test_edges_connect_the_right_nodes_and_carry_the_right_values(spec: TargetSpec, gen: torch.Generator) -> None:
    """Each weight tensor is one edge group whose edges join its two node sets and hold its entries."""
    g = NeuralGraph(spec)
    theta = spec.init_theta(gen)
    _, _, edge_values = g.to_features(theta)
    index, edge_ids, node_ids = g.edge_index(), g.edge_group_id(), g.node_group_id()
    assert int(index.min()) >= 0 and int(index.max()) < g.num_nodes
    assert [b.param for b in g.edge_blocks] == [p.name for p in spec.params if p.is_edge]
    assert len(set(edge_ids.tolist())) == len(g.edge_blocks)
    assert not set(edge_ids.tolist()) & set(node_ids.tolist())
    for b in g.edge_blocks:
        in_block = edge_ids == b.group_id
        assert in_block.sum() == theta[b.param].numel(), b.param
        r, c = index[0, in_block], index[1, in_block]
        assert torch.all(node_ids[r] == node_ids[g.node_offset[b.rows]]), b.param
        assert torch.all(node_ids[c] == node_ids[g.node_offset[b.cols]]), b.param
        dense = theta[b.param].reshape(spec.node_set(b.rows).size, spec.node_set(b.cols).size)
        values = dense[r - g.node_offset[b.rows], c - g.node_offset[b.cols]]
        assert torch.equal(edge_values[in_block], values), b.param


def test_pe_shapes_and_members_distinct(spec: TargetSpec) -> None:
    """Every node set gets one code per member, ``pe_dim`` per axis, and no two members share a code."""
    g = NeuralGraph(spec, pe_dim=16, seed=0)
    assert set(g.node_pe) == {s.name for s in spec.node_sets}
    for s in spec.node_sets:
        pe = g.node_pe[s.name]
        assert pe.shape == (s.size, 16 * len(s.axes)), s.name
        assert torch.isfinite(pe).all()
        if s.size > 1:
            dist = torch.cdist(pe, pe) + torch.eye(s.size) * 1e9
            assert dist.min() > 0.05, f"two members of {s.name} have nearly the same code"


def test_pe_deterministic_per_seed(spec: TargetSpec) -> None:
    """The same seed gives identical encodings; another seed gives different ones for every node set."""
    a, b, c = NeuralGraph(spec, seed=3), NeuralGraph(spec, seed=3), NeuralGraph(spec, seed=4)
    for name in a.node_pe:
        assert torch.equal(a.node_pe[name], b.node_pe[name]), name
        assert not torch.allclose(a.node_pe[name], c.node_pe[name], atol=1e-3), name


def test_pe_of_a_large_interchangeable_group_is_distinct() -> None:
    """Codes stay distinct for a wide hidden layer (128 neurons) and a large vocabulary."""
    spec = build_target("transformer", vocab=128, n_ctx=3, n_classes=127, d_model=16, n_heads=2, d_mlp=128)
    g = NeuralGraph(spec)
    for name in ("tokens", "blocks.0.mlp"):
        pe = g.node_pe[name]
        dist = torch.cdist(pe.double(), pe.double()) + torch.eye(len(pe)) * 1e9
        assert dist.min() > 0.05, name


def test_odd_pe_dim_rejected(mlp_spec: TargetSpec) -> None:
    """``pe_dim`` must be a positive even number (cos/sin pairs)."""
    with pytest.raises(SpecError):
        NeuralGraph(mlp_spec, pe_dim=7)
