"""`flowvox serve` under load: 1, 8, 32 and 50 concurrent loopback clients, batching on vs off.

    nice -n 19 python -m benchmarks.serve_load --seconds 30 --out benchmarks/results/serve_load.md

For each setting (dynamic batching on, then ``--no-batching``) a fresh `flowvox serve` (the
bundled voice, one torch thread unless ``--threads``) is started; for each client count,
that many threads send whole-file requests (pcm, a sentence of about 3 s of speech, a
distinct seed each) back to back for ``--seconds`` seconds (then the requests in flight
finish; each is bounded by ``--timeout``). Reported: finished requests per second, audio
seconds made per second, p50/p95 latency of the finished requests, 429s (queue full), and
the server's peak resident memory at that level (VmHWM, reset between levels). Only
loopback traffic; the run stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

from benchmarks.serve_latency import Server, post
from flowvox.bench.report import hardware_lines

TEXTS = [
    "The students panicked when told that final exams were less than a week away.",
    "Repeaters can be used in computer networks to extend cabling distances.",
    "The employees walked out when their demand for better benefits was not met.",
    "Both companies will retain control over the commercialization of their products.",
]


def load_level(port: int, clients: int, seconds: float, timeout: float) -> dict:
    latencies: list[float] = []
    audio, busy, failed = [0.0], [0], [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            body = {
                "model": "flowvox",
                "voice": "flite-rms",
                "input": TEXTS[(k + n) % len(TEXTS)],
                "response_format": "pcm",
                "seed": 1000 * k + n,
            }
            n += 1
            try:
                status, _, total, size = post(port, body, timeout)
            except OSError:
                with lock:
                    failed[0] += 1
                continue
            with lock:
                if status == 200:
                    latencies.append(total)
                    audio[0] += size / 2 / 24000
                elif status == 429:
                    busy[0] += 1
                else:
                    failed[0] += 1
            if status == 429:
                time.sleep(0.5)

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")
    return {
        "clients": clients,
        "done": len(latencies),
        "rps": len(latencies) / wall,
        "audio_rate": audio[0] / wall,
        "p50": statistics.median(ordered) if ordered else float("nan"),
        "p95": p95,
        "busy": busy[0],
        "failed": failed[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 50])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for label, flags in (("on", []), ("off", ["--no-batching"])):
        server = Server(
            *flags,
            "--max-queue",
            str(args.max_queue),
            "--timeout",
            str(args.timeout),
            threads=args.threads,
        )
        try:
            post(server.port, {"model": "flowvox", "voice": "flite-rms", "input": "Warm up."}, 60)
            for clients in args.clients:
                server.reset_peak()
                row = load_level(server.port, clients, args.seconds, args.timeout)
                row.update(batching=label, peak=server.peak_mib())
                rows.append(row)
                print(row, flush=True)
        finally:
            server.stop()
    lines = [
        "# `flowvox serve` under load: concurrent loopback clients, batching on vs off",
        "",
        *hardware_lines(),
        f"- Server: bundled voice (its sampling.json), CPU, {args.threads} torch thread(s), "
        f"max queue {args.max_queue}; clients send ~3-5 s sentences back to back for "
        f"{args.seconds:g} s (pcm, whole file); the clients share the machine with the server",
        "",
        "| batching | clients | requests done | requests/s | audio s/s | p50 s | p95 s | 429s "
        "| peak server MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r['batching']} | {r['clients']} | {r['done']} | {r['rps']:.2f} | "
            f"{r['audio_rate']:.2f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['busy']} | "
            f"{r['peak']:.0f} |"
            for r in rows
        ],
    ]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
