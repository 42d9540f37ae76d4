"""Judges of generated speech and the `flowvox eval` run.

- ``asr_pool``, ``text_norm``: intelligibility (the recognisers of ``flowvox.audio.asr``,
  pocketsphinx or a local Whisper, run in worker processes; WER on normalised text);
- ``speaker``: speaker similarity (resemblyzer cosine);
- ``mcd``, ``pitch_error``: MCD and F0 RMSE against the ground truth along one DTW path;
- ``likelihood``: log-likelihood of mels under a flow model;
- ``items``, ``testset``: the test manifest and the standard test set;
- ``copy_synthesis``: recordings through a vocoder alone (``flowvox vocode``), to judge it;
- ``judges``, ``report``, ``run``: scoring every utterance, summaries and result files, and
  ``run_eval`` (what ``flowvox eval run`` calls).

Heavy packages (pocketsphinx, resemblyzer, librosa, matplotlib) load inside the functions
that need them.
"""
