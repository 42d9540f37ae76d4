"""flowvox.flow: flow-matching maths that knows nothing about speech.

t runs from 0 (noise) to 1 (data). Paths and the loss for training, time grids and ODE
solvers for sampling, classifier-free guidance, and likelihood by the instantaneous change
of variables.
"""

from flowvox.flow.divergence import draw_probes, exact_divergence, hutchinson_divergence
from flowvox.flow.guidance import DiffusersGuidance, F5Guidance, Guidance, guided_velocity
from flowvox.flow.likelihood import LikelihoodResult, log_likelihood
from flowvox.flow.loss import flow_matching_loss
from flowvox.flow.masking import expand_mask
from flowvox.flow.paths import OTCFMPath, PathSample, ProbPath, RectifiedPath, sample_time
from flowvox.flow.solvers import ADAPTIVE_METHODS, FIXED_STEP_METHODS, SolveResult, solve
from flowvox.flow.straightness import StraightnessResult, trajectory_straightness
from flowvox.flow.time_grids import EPSS_TABLES, epss_grid, sway, time_grid, uniform_grid

__all__ = [
    "ADAPTIVE_METHODS",
    "EPSS_TABLES",
    "FIXED_STEP_METHODS",
    "DiffusersGuidance",
    "F5Guidance",
    "Guidance",
    "LikelihoodResult",
    "OTCFMPath",
    "PathSample",
    "ProbPath",
    "RectifiedPath",
    "SolveResult",
    "StraightnessResult",
    "draw_probes",
    "epss_grid",
    "exact_divergence",
    "expand_mask",
    "flow_matching_loss",
    "guided_velocity",
    "hutchinson_divergence",
    "log_likelihood",
    "sample_time",
    "solve",
    "sway",
    "time_grid",
    "trajectory_straightness",
    "uniform_grid",
]
