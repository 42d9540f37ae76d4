"""Model-free judges of generated sound clips (latent text-to-audio) and a Fréchet distance.

Each judge estimates one attribute of the sound corpus manifest from the audio alone, by
signal processing (no CLAP/PANNs weights exist offline):

- ``onsets``: events from the energy envelope (count, segments, active duration);
- ``kinds``: what each event is (tone, pluck, noise, sweep, speech) and speech merging;
- ``pitch``: spectral-peak track, YIN pitch of tonal events, semitone error;
- ``noise``: noise colour from the spectral slope (white / pink / brown);
- ``speech``: speech presence from voicing, sex from median F0;
- ``fade``: fade in / out from the loudness slope;
- ``judges``: ``judge_clip``, ``score``, ``attribute_accuracy``;
- ``frechet``: Fréchet distance in a fixed log-mel statistics embedding.

All work at 16 kHz mono (``signal``).
"""
