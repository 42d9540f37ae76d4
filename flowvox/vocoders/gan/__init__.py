"""GAN training pieces of the vocoders: discriminators (MPD, MRD, MSD) and their losses."""
