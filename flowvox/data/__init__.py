"""flowvox.data"""
