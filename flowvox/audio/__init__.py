"""flowvox.audio"""
