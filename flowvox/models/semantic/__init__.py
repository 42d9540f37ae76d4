"""The semantic tokenizer family (WhisperSpeech-style): a Whisper-like ASR whose encoder,
pooled to 25 Hz and vector-quantised, gives the semantic tokens that text-to-semantic
models generate, and whose frozen decoder turns them back into text; beside it the
text-to-semantic models (flow matching, autoregressive) and the semantic-to-acoustic model
(S2A) that turns tokens and a voice prompt into mel."""
