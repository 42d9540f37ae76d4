"""Tests for flowvox.data.corpus."""
