"""flowvox.models: one folder per model family (``infill/``, ``aligned/``, ``fastpitch/``),
built from ``flowvox.nn`` blocks; a family never imports another. What the families share
sits here: ``loading`` (model folders, their "family" stamp), ``prepared_data`` and
``training_text`` (what their training tasks read)."""
