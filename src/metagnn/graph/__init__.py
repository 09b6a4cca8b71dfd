"""The neural graph of a target spec: nodes, edges, group ids, positional encodings."""

from metagnn.graph.neural_graph import Anchor, EdgeBlock, NeuralGraph, axis_encoding

__all__ = ["Anchor", "EdgeBlock", "NeuralGraph", "axis_encoding"]
