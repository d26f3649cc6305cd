"""What every layer of fastmlp may use: input checks, the Python-side tunables, figures.

Imports nothing else of fastmlp (the compiled kernels included).
"""
