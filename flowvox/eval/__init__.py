"""Judges of generated speech and the `flowvox eval` run.

- ``asr``, ``asr_pool``, ``text_norm``: intelligibility (pocketsphinx or a local Whisper; WER
  on normalised text), transcription in worker processes;
- ``speaker``: speaker similarity (resemblyzer cosine);
- ``mcd``, ``pitch_error``: MCD and F0 RMSE against the ground truth along one DTW path;
- ``likelihood``: log-likelihood of mels under a flow model;
- ``items``, ``testset``: the test manifest and the standard test set;
- ``judges``, ``report``, ``run``: scoring every utterance, summaries and result files, and
  ``run_eval`` (what ``flowvox eval run`` calls).

Heavy packages (pocketsphinx, resemblyzer, librosa, matplotlib) load inside the functions
that need them.
"""
