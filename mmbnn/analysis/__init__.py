"""Reports of a model or a run: the binary/FP summary and the diagnostics'
figures."""
from .summary import LayerRow, Summary, summarize

__all__ = ['LayerRow', 'Summary', 'summarize']
