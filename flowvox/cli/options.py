"""Options several `flowvox` verbs share: --device (and its check), --threads, --no-progress."""

from __future__ import annotations

import argparse
import sys

from flowvox.errors import FlowvoxError


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default cpu); ``flowvox.cli.main`` checks it (``check_device``) before
    the verb runs."""
    parser.add_argument(
        "--device", default="cpu", metavar="DEVICE", help="cpu, cuda, cuda:N or mps (default: cpu)"
    )


def check_device(name: str) -> str:
    """``name`` when torch can compute on it on this machine: cpu, cuda, cuda:N (N below the
    GPU count) or mps. Else ``FlowvoxError`` naming the device and the fix (torch itself
    raises a RuntimeError or an AssertionError only when the first tensor moves there)."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise FlowvoxError(
            f"--device {name!r} is not a device; use cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cpu":
        return name
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "no CUDA GPU found" if torch.version.cuda else "this torch is a CPU-only build"
            raise FlowvoxError(
                f"--device {name}: CUDA is not available on this machine ({why}, torch "
                f"{torch.__version__}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise FlowvoxError(
                f"--device {name}: this machine has {count} CUDA device(s), cuda:0 .. "
                f"cuda:{count - 1}"
            )
        return name
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise FlowvoxError(f"--device {name}: MPS is not available here; use --device cpu")
        return name
    raise FlowvoxError(f"--device {name}: flowvox runs on cpu, cuda, cuda:N or mps")


def check_device_option(args: argparse.Namespace) -> None:
    """Check the ``--device`` of a verb that takes one (``add_device_option``)."""
    if getattr(args, "device", None) is not None:
        args.device = check_device(args.device)


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


def text_argument(value: str) -> str:
    """A TEXT / CAPTION argument: itself, or standard input for "-" (UTF-8 or a one-line
    error)."""
    if value != "-":
        return value
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as err:
        raise FlowvoxError(f"stdin is not UTF-8 text ({err.reason}); pipe UTF-8") from err
