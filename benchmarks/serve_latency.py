"""`flowvox serve` latency: time to the first audio byte (streamed) vs the whole response.

    nice -n 19 python -m benchmarks.serve_latency --repeats 3 \\
        --out benchmarks/results/serve_latency.md

Starts `flowvox serve` (the bundled voice, its own sampling defaults, one torch thread unless
``--threads``) on a free loopback port, then for texts of about 1 s, 10 s and 60 s of speech
sends, one at a time: the whole file (no stream_format: wav, Content-Length) and a chunked
stream (stream_format "audio", pcm). Reported: the median over ``--repeats`` of the time to
the first body byte and to the last byte, and the audio seconds made. Only loopback traffic;
every request is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from flowvox.bench.report import hardware_lines

SENTENCE = (
    "The weather is lovely this morning, and the park is full of people who walk "
    "their dogs along the river before work."
)
TEXTS = {  # about 1 s, 10 s and 60 s of speech from the bundled voice
    "1 s": "Hello there, friend.",
    "10 s": SENTENCE + " " + SENTENCE[:40] + ".",
    "60 s": " ".join([SENTENCE] * 10),
}


class Server:
    """`flowvox serve` in a child process on a free loopback port; ``pid`` for memory."""

    def __init__(self, *flags: str, threads: int = 1) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        command = [
            sys.executable,
            "-m",
            "flowvox",
            "serve",
            "--port",
            "0",
            "--threads",
            str(threads),
            *flags,
        ]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 180
        self.port = 0
        while not self.port:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("flowvox serve did not start:\n" + "\n".join(self.lines))
            for line in self.lines:
                if found := re.search(r"serving \S+ on http://127\.0\.0\.1:(\d+)", line):
                    self.port = int(found.group(1))
            time.sleep(0.1)
        self.pid = self.process.pid

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def peak_mib(self) -> float:
        """Peak resident memory (VmHWM) since start or the last ``reset_peak``."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def reset_peak(self) -> None:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            pass  # not allowed here: the peak then covers the whole run

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def post(port: int, body: dict, timeout: float) -> tuple[int, float, float, int]:
    """(status, seconds to the first body byte, seconds to the last, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    try:
        connection.request(
            "POST", "/v1/audio/speech", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        first = response.read1(65536)
        first_at = time.perf_counter() - start
        size = len(first)
        while chunk := response.read1(65536):
            size += len(chunk)
        return response.status, first_at, time.perf_counter() - start, size
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    server = Server(threads=args.threads)
    rows = []
    try:
        base = {"model": "flowvox", "voice": "flite-rms", "seed": 0}
        post(server.port, {**base, "input": "Warming up."}, args.timeout)
        for label, text in TEXTS.items():
            whole, first, last, seconds = [], [], [], 0.0
            for _ in range(args.repeats):
                status, _, total, _ = post(server.port, {**base, "input": text}, args.timeout)
                assert status == 200, status
                whole.append(total)
                body = {**base, "input": text, "response_format": "pcm", "stream_format": "audio"}
                status, ttfb, total, size = post(server.port, body, args.timeout)
                assert status == 200, status
                first.append(ttfb)
                last.append(total)
                seconds = size / 2 / 24000
            row = (
                label,
                len(text),
                seconds,
                statistics.median(whole),
                statistics.median(first),
                statistics.median(last),
            )
            rows.append(row)
            print(
                f"{label:5s} {len(text):4d} chars {seconds:6.1f} s audio: whole {row[3]:.2f} s; "
                f"stream first byte {row[4]:.2f} s, last {row[5]:.2f} s",
                flush=True,
            )
    finally:
        server.stop()
    lines = [
        "# `flowvox serve`: time to first audio byte vs whole response",
        "",
        *hardware_lines(),
        f"- Server: bundled voice (its sampling.json), CPU, {args.threads} torch thread(s), "
        f"batching on, one request at a time; median of {args.repeats}",
        "",
        "| text | chars | audio s | whole file (wav): last byte s | stream (pcm): first byte s "
        "| stream: last byte s |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} |" for r in rows],
    ]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
