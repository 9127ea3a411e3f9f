"""Measuring models: complexity (params, FLOPs) and timing.

Library code behind ``tools/analysis/*``; the tools are thin shims over it.
"""
