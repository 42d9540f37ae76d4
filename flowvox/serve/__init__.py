"""flowvox.serve: an OpenAI-compatible speech server (``flowvox serve``) and its web page.

    POST /v1/audio/speech        OpenAI's speech API (+ nfe, cfg, seed); whole files,
                                 chunked audio streams or server-sent events
    GET  /v1/models              the served model (and OpenAI's names for it)
    GET|POST /v1/audio/voices    the voices; upload a clip as a new voice
    DELETE /v1/audio/voices/{id} forget an uploaded voice
    GET  /health, GET /          health, and the web page (no external assets)

Layout: ``config`` (settings), ``speech_request`` (the request body), ``audio_format``
(wav/flac/pcm/mp3/opus, whole and streamed), ``engine`` (the worker thread and dynamic
batching), ``voices`` and ``uploads`` (voice store, multipart uploads), ``middleware``
(request ids, key, limits, errors, log lines), ``routes_*``, ``app`` (``create_app``),
``server`` (uvicorn, graceful shutdown). Needs the [serve] extra (FastAPI, uvicorn,
python-multipart); nothing outside the CLI imports this package.
"""
