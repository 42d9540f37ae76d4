"""flowvox.infer.onnx: ONNX graphs of a model folder and the onnxruntime backend that speaks them.

``flowvox export-onnx MODEL OUT/`` (``folder.export_onnx``) writes the aligned family's
guided velocity (``graphs.GuidedVelocity``) and a neural vocoder (``graphs.VocosGraph``,
``graphs.HiFiGANGraph``) as ONNX graphs beside a copy of the model folder (``layout``);
``Synthesizer.from_pretrained(OUT, backend="onnx")`` (``flowvox speak --backend onnx``) runs
them with onnxruntime (``backend``, ``runtime``) while the solver loop stays in Python.
onnx, onnxruntime and onnxscript come with the ``onnx`` extra and are imported only where
used. This module imports nothing, so importing ``flowvox.infer.onnx.backend`` from the
Synthesizer does not pull in the exporter.
"""
