"""The model file format, the detector that runs it, and the pure maths: decoding maps
to counts and points, image quality and zoom flags, Pi cost estimates.
"""
