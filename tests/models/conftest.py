"""Fixtures of the training-task tests: a module's prepared corpus, run files and tasks.

A task test module declares at its top level

    CORPUS = ToneCorpus(...)    # its prepared folder: the ``prepared`` fixture
    TASK = "aligned_tts"        # the task of its run files and tasks
    MODEL = {...}               # the model section of both
    TRAIN = {...}               # its run files' train settings (steps, frames, checkpoints)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowvox.train.registry import resolve_task
from flowvox.utils.config import config_from_dict
from tests.models.task_helpers import task_run_dict

DATA = {"min_item_frames": 4}


@pytest.fixture(scope="module")
def prepared(request, tmp_path_factory) -> Path:
    """The prepared folder of the module's ``CORPUS`` (built once per module)."""
    root = tmp_path_factory.mktemp(f"{request.module.__name__.rsplit('.', 1)[-1]}_data")
    return request.module.CORPUS.prepare(root)


@pytest.fixture
def run_dict(request, prepared):
    """``run_dict(out_dir, **train)``: a run file (dict) of the module's TASK and MODEL over
    ``prepared`` (``task_run_dict``), with the module's TRAIN and then ``train`` settings."""
    module = request.module

    def make(out_dir: Path, **train) -> dict:
        settings = {**module.TRAIN, **train}
        return task_run_dict(module.TASK, module.MODEL, prepared, out_dir, **settings)

    return make


@pytest.fixture
def build_task(request, prepared):
    """``build_task(model=None, **data)``: the module's TASK over ``prepared`` with ``model``
    (default: the module's MODEL) and ``data`` keys over min_item_frames 4."""
    task_cls = resolve_task(request.module.TASK)

    def make(model=None, **data):
        data = {"prepared": str(prepared), **DATA, **data}
        sections = {"model": model or request.module.MODEL, "data": data}
        return task_cls(config_from_dict(task_cls.config_class, sections))

    return make
