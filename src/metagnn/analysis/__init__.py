"""Mechanistic analysis of AddMod-p networks (SPEC 5).

- :mod:`metagnn.analysis.clock`: the figures of one network (spectra, PCA clock, logit share,
  restricted/excluded loss, gradient symmetricity, distance irrelevance).
- :mod:`metagnn.analysis.runs`: those figures for every prime of a trained hypernetwork run.
- :mod:`metagnn.analysis.closed_form`: a compact map ``p -> theta`` fitted on the seen primes.
- :mod:`metagnn.analysis.reference`: the target trained directly on one prime (Nanda et al.).
- :mod:`metagnn.analysis.plots`: spectra, embedding clocks, R^2 per prime.
"""

from metagnn.analysis.clock import analyze_clock, fourier_basis, pca_clock, spectrum

__all__ = ["analyze_clock", "fourier_basis", "pca_clock", "spectrum"]
