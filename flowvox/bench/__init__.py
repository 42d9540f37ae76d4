"""flowvox.bench: speed, memory and MFU measurements behind ``flowvox bench``.

- ``flops``: model FLOPs counted by torch's FlopCounterMode (plus the CPU attention and
  oneDNN linear kernels it does not know) and this machine's measured matmul throughput;
- ``memory``: peak resident memory of a phase (or peak CUDA memory);
- ``lines``: the benchmark's texts and voice prompt;
- ``synthesis``: RTF at batch 1 and bulk throughput across NFE, with MFU;
- ``training``: training step time, frames/s, memory and MFU of a preset;
- ``report``: the markdown written to ``benchmarks/results/``.
"""
