"""gvgap: measure and exploit the generation-verification gap of language models.

Implements "Mind the Gap: Examining the Self-Improvement Capabilities of LLMs"
(Song et al., ICLR 2025).
"""

__version__ = "0.1.0"
