"""The duration-aligned TTS family (Matcha / VoiceBox / VoiceFlow style): config, model (MAS,
duration predictor, DiT decoder with audio prompt), training inputs, task, reflow, guidance
distillation (distill), loader."""
