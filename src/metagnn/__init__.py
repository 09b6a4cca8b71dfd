"""metagnn: neural program synthesis with structure-aware graph hypernetworks."""

__version__ = "0.1.0"

from metagnn.config import load_config  # noqa: E402
from metagnn.graph import NeuralGraph  # noqa: E402
from metagnn.models import build_model  # noqa: E402
from metagnn.program import load_program, save_program  # noqa: E402
from metagnn.synthesis import Program, synthesize  # noqa: E402
from metagnn.targets import TargetSpec, build_target, instantiate, run  # noqa: E402
from metagnn.tasks import build_task  # noqa: E402
from metagnn.train import load_run  # noqa: E402

__all__ = [
    "NeuralGraph",
    "Program",
    "TargetSpec",
    "build_model",
    "build_target",
    "build_task",
    "instantiate",
    "load_config",
    "load_program",
    "load_run",
    "run",
    "save_program",
    "synthesize",
]
