"""Multi-process test entry: ``torchrun ... tests/train/ddp_run.py CONFIG [--stop-at N] [k=v ...]``.

With ``--stop-at N`` it trains N steps, then builds a fresh trainer that resumes from the
checkpoint and finishes the run (a stop and resume inside one launch).
"""

import sys

from flowvox.train import Trainer, load_run_config, train_from_config

if __name__ == "__main__":
    path, args = sys.argv[1], sys.argv[2:]
    if args[:1] == ["--stop-at"]:
        stop, overrides = int(args[1]), args[2:]
        Trainer(load_run_config(path, overrides)).fit(stop_at_step=stop)
        Trainer(load_run_config(path, overrides), resume=True).fit()
    else:
        train_from_config(path, args)
