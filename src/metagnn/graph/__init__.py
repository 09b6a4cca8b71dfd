"""The neural graph of a target spec: nodes, edges, group ids, positional encodings."""

from metagnn.graph.neural_graph import EdgeBlock, NeuralGraph, axis_encoding

__all__ = ["EdgeBlock", "NeuralGraph", "axis_encoding"]
