"""flowvox.text"""
