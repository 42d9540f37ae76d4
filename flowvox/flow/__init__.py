"""flowvox.flow"""
