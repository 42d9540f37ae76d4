"""The latent text-to-audio family (LAFMA): mel VAE, caption encoders, latent flow model, task."""
