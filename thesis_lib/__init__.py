"""thesis-lab: how the storage format of an image dataset changes PyTorch image-classification training."""
from .core.errors import FormatError, SourceError, ThesisLabError

__version__ = "0.1.0"
__all__ = ["FormatError", "SourceError", "ThesisLabError", "__version__"]
