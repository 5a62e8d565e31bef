from .summary import LayerRow, Summary, summarize

__all__ = ['LayerRow', 'Summary', 'summarize']
