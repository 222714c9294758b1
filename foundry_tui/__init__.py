"""foundry-tui: a terminal tool for exploring local LLMs on Microsoft Foundry Local."""

__version__ = "0.1.0"
