"""flowvox.utils"""
