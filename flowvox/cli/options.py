"""Options several `flowvox` verbs share: --device, --threads, --no-progress."""

from __future__ import annotations

import argparse

from flowvox.errors import FlowvoxError


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="cpu", metavar="DEVICE", help="cpu, cuda or cuda:N (default: cpu)"
    )


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=int, metavar="N",
        help="CPU threads for the maths (default: torch's choice, one per core); on a busy "
        "machine fewer threads than cores is often faster",
    )  # fmt: skip


def set_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (checked: a positive count)."""
    if args.threads is None:
        return
    if args.threads < 1:
        raise FlowvoxError(f"--threads {args.threads}: must be 1 or more")
    import torch

    torch.set_num_threads(args.threads)
